"""What the traffic panel does: read and change one model's traffic policy on a service
(split, shadow, guard, promote, clear) through the client SDK; every change is audited with the
policy before and after, and the service keeps it in its history.

The changes block (a version joining a split is loaded first); the web layer runs them in
worker threads.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import grpc

import drucker.dashboard.audit as audit
import drucker.dashboard.queries as queries
from drucker.client import Client, ClientError, ModelSwitch
from drucker.client.types import Traffic
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import AuditEntry, Switch

CHANGE_TIMEOUT = 600.0  # a version joining a split is loaded (and smoke-checked) first
READ_TIMEOUT = 5.0
PROMOTE = "traffic promote"
ACTIONS = frozenset(
    {
        "traffic split",
        "traffic shadow",
        "traffic shadow off",
        "traffic guard",
        "traffic guard off",
        PROMOTE,
        "traffic clear",
    }
)
TRIP = "guard tripped"  # how the service's history names a guard's own change
SAME_CHANGE_SECONDS = 5.0  # an audited change this close to a history entry is that entry

# What a refusal of the service means for the dashboard's answer.
STATUS_OF_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
}


def refusal(error: ClientError, address: str) -> Refused:
    """The dashboard's refusal for a service's: bad input 422, unknown 404, else 409 / 502."""
    status = STATUS_OF_CODE.get(error.code, 502) if error.code is not None else 409
    return Refused(f"{address}: {error.message}", status)


def summary(traffic: Traffic | None) -> str:
    """The policy in a line, as the audit keeps it: ``split a=90 b=10; shadow c at 0.25``
    (the heaviest version first)."""
    if traffic is None:
        return ""
    parts = []
    if traffic.split:
        heaviest = sorted(traffic.split.items(), key=lambda item: (-item[1], item[0]))
        weights = " ".join(f"{v}={w:g}" for v, w in heaviest)
        parts.append(f"split {weights}")
    else:
        parts.append(f"{traffic.serving} serves all")
    if traffic.shadow_version:
        parts.append(f"shadow {traffic.shadow_version} at {traffic.shadow_fraction:g}")
    for guard in traffic.guards:
        limits = []
        if guard.max_error_rate is not None:
            limits.append(f"error rate <= {guard.max_error_rate:g}")
        if guard.min_agreement is not None:
            limits.append(f"agreement >= {guard.min_agreement:g}")
        state = " (tripped)" if guard.tripped else ""
        parts.append(f"guard {guard.version}: {', '.join(limits)} over {guard.window}{state}")
    return "; ".join(parts)


@attrs.frozen
class Change:
    """One change of a model's policy: the audit's action and what the call does."""

    action: str  # at most 32 characters: the audit's column
    what: str  # what was asked, for a refusal's audit entry
    call: Callable[[Client], Traffic]


def split(weights: dict[str, float]) -> Change:
    text = " ".join(f"{v}={w:g}" for v, w in weights.items()) or "none"
    return Change("traffic split", f"split {text}", lambda c: c.set_split(weights))


def shadow(version: str, fraction: float) -> Change:
    return Change(
        "traffic shadow",
        f"shadow {version} at {fraction:g}",
        lambda c: c.set_shadow(version, fraction),
    )


def stop_shadow() -> Change:
    return Change("traffic shadow off", "no shadow", lambda c: c.stop_shadow())


def guard(
    version: str, max_error_rate: float | None, min_agreement: float | None, window: int
) -> Change:
    return Change(
        "traffic guard",
        f"guard {version}",
        lambda c: c.set_guard(
            version, max_error_rate=max_error_rate, min_agreement=min_agreement, window=window
        ),
    )


def remove_guard(version: str) -> Change:
    return Change(
        "traffic guard off",
        f"no guard on {version}",
        lambda c: c.remove_guard(version),
    )


def promote(version: str) -> Change:
    return Change(PROMOTE, f"promote {version}", lambda c: c.promote(version))


def clear() -> Change:
    return Change("traffic clear", "no policy", lambda c: c.clear_traffic())


def read(endpoint: Endpoint, model: str) -> Traffic:
    """The model's policy and figures. :raises Refused: as :func:`refusal` says."""
    try:
        with endpoint.for_model(model).client(READ_TIMEOUT) as service:
            return service.traffic()
    except ClientError as error:
        raise refusal(error, endpoint.address) from None


def change(db: Database, user: str, service_id: int, model: str, wanted: Change) -> Traffic:
    """Make one change; audited either way (``before`` and ``after`` are the policy).

    :raises Refused: when the service refuses it (its message; the old policy stands).
    """
    service = queries.service(db, service_id)
    endpoint = Endpoint.of(service)
    target = f"{service.address} {model}".strip()
    before: Traffic | None = None
    try:
        with endpoint.for_model(model).client(CHANGE_TIMEOUT) as connection:
            before = connection.traffic()
            after = wanted.call(connection)
    except ClientError as error:
        with db.session() as session:
            audit.record(
                session,
                user,
                wanted.action,
                application=service.application,
                target=target,
                before=summary(before),
                after=wanted.what,
                ok=False,
                message=str(error),
            )
        raise refusal(error, service.address) from None
    with db.session() as session:
        audit.record(
            session,
            user,
            wanted.action,
            application=service.application,
            target=target,
            before=summary(before),
            after=summary(after),
            message=after.message,
        )
        if wanted.action == PROMOTE and before is not None:
            # A promote is a switch: kept as one, so the service page names who made it.
            session.add(
                Switch(
                    service_id=service.id,
                    from_model=before.serving,
                    to_model=after.serving,
                    ok=True,
                    user=user,
                )
            )
    return after


def named_history(
    entries: list[ModelSwitch], audited: list[AuditEntry], target: str
) -> list[tuple[ModelSwitch, str]]:
    """Each policy change of a model's history with who made it: the dashboard user where the
    audit holds the change (a traffic action on the same target, the closest in time within
    :data:`SAME_CHANGE_SECONDS`), else who the service says. A guard that tripped is nobody's."""
    candidates = [e for e in audited if e.ok and e.target == target and e.action in ACTIONS]
    changes = [i for i, e in enumerate(entries) if e.traffic and not e.traffic.startswith(TRIP)]
    pairs = sorted(
        (abs(entries[i].at - c.at), i, n)
        for i in changes
        for n, c in enumerate(candidates)
        if abs(entries[i].at - c.at) <= SAME_CHANGE_SECONDS
    )
    users: dict[int, str] = {}
    taken: set[int] = set()
    for _, index, candidate in pairs:
        if index not in users and candidate not in taken:
            users[index] = candidates[candidate].user
            taken.add(candidate)
    return [(entry, users.get(i, entry.by)) for i, entry in enumerate(entries)]
