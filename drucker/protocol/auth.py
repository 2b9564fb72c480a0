"""Bearer-token protection: every rpc needs the token except those opened by name.

Health, reflection and the server-level V2 probes are always open; predictions (Drucker and V2,
with model metadata and model readiness) and ``ServiceInfo`` are open unless the settings
protect them; management rpcs and
anything not listed (a new rpc or service) are closed.

The token comes from ``management.token`` / ``DRUCKER_MANAGEMENT_TOKEN``; without one the server
generates a token at start and writes it to a file only its user can read. ``management.auth:
false`` opens everything, for 0.4.5 tooling that cannot send metadata.
``management.repository_loopback_without_token`` waives the token for the gRPC repository rpcs
from loopback peers only (an engine's agent in the same pod); every other caller still needs it.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from drucker.errors import ConfigurationError
from drucker.events import EventLog
from drucker.kinds import Kind, rpc_name
from drucker.settings import Settings

DASHBOARD = "/drucker.DruckerDashboard/"
V2 = "/inference.GRPCInferenceService/"
WORKER_PREFIX = "/drucker.DruckerWorker/"
# Rpcs anyone may call: health, reflection and the V2 probes. Everything not named in one of
# these sets needs the token, so an rpc or service added later is closed until opened here.
ALWAYS_OPEN = frozenset(
    {
        "/drucker.Health/Check",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        V2 + "ServerLive",
        V2 + "ServerReady",
        V2 + "ServerMetadata",
    }
)
# Every path to a prediction or to what a model is: open unless
# ``management.protect_predictions``. ``ModelReady`` tells which stored version serves, so it is
# protected with them (orchestrators probe the server-level ``ServerReady`` instead).
PREDICTION_METHODS = frozenset(
    {WORKER_PREFIX + rpc_name(i, o) for i in Kind for o in Kind}
    | {V2 + "ModelInfer", V2 + "ModelMetadata", V2 + "ModelReady"}
)
SERVICE_INFO = DASHBOARD + "ServiceInfo"
# The repository rpcs an engine's agent in the same pod calls without a token (Seldon Core 2),
# accepted from loopback peers under ``management.repository_loopback_without_token``. Only
# over gRPC: Seldon's agent forwards any HTTP path from outside callers to the server over
# loopback, while its gRPC proxy forwards only inference rpcs.
REPOSITORY_METHODS = frozenset(
    {V2 + "RepositoryIndex", V2 + "RepositoryModelLoad", V2 + "RepositoryModelUnload"}
)
MISSING_TOKEN = "this call needs 'authorization: Bearer <token>'"
WRONG_TOKEN = "the management token is not valid"


def resolve_token(settings: Settings, log: EventLog) -> str | None:
    """The management token, generating and saving one when none is configured.

    Returns ``None`` when protection is turned off.
    """
    if not settings.management_auth:
        log.warning(
            "management rpcs are open to anyone who can reach the port (management.auth: "
            "false): uploads and switches need no token"
        )
        return None
    if settings.repository_loopback_without_token:
        log.warning(
            "the gRPC repository rpcs (index, load, unload) are accepted without the token from "
            "loopback peers (management.repository_loopback_without_token): for an engine's "
            "agent in the same pod; every other caller and rpc still needs the token"
        )
    if settings.management_token:
        return settings.management_token
    path = settings.token_file
    token = read_token_file(path)
    if token is not None:
        log.info(f"management token read from {path}", token_file=str(path))
        return token
    token = secrets.token_urlsafe(32)
    write_token_file(path, token)
    log.info(f"management token generated and written to {path}", token_file=str(path))
    return token


def read_token_file(path: Path) -> str | None:
    """The token in ``path``, or ``None`` when there is no such file.

    :raises ConfigurationError: when the path is a symbolic link, not a regular file, not
        owned by this user, readable or writable by others than its owner, or empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise ConfigurationError(
                f"the management token file {path} is a symbolic link; refusing to follow it"
            ) from None
        raise ConfigurationError(f"cannot read the management token file {path}: {exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigurationError(f"the management token file {path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"the management token file {path} belongs to another user (uid {info.st_uid})"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise ConfigurationError(
                f"the management token file {path} has mode "
                f"{stat.S_IMODE(info.st_mode):04o}; it must be 0600 (chmod 600 {path})"
            )
        token = handle.read(4096).decode("utf-8", errors="replace").strip()
    if not token:
        raise ConfigurationError(
            f"the management token file {path} is empty; remove it to have a token generated"
        )
    return token


def write_token_file(path: Path, token: str) -> None:
    """Create ``path`` holding ``token``, mode 0600; never replaces or follows anything.

    The token is written to a new file of its own and then linked to ``path``, which fails
    when ``path`` exists (another process won the race, or something was placed there).

    :raises ConfigurationError: when the file cannot be created.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(temp, flags, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(token + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temp, path, follow_symlinks=False)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    except FileExistsError:
        raise ConfigurationError(
            f"the management token file {path} appeared while it was being created; start again"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot write the management token file {path}: {exc}") from None


def open_methods(settings: Settings) -> frozenset[str]:
    """The full method names callable without the token, under these settings."""
    opened = set(ALWAYS_OPEN)
    if not settings.protect_predictions:
        opened |= PREDICTION_METHODS
    if not settings.protect_service_info:
        opened.add(SERVICE_INFO)
    return frozenset(opened)


def protected_methods(settings: Settings) -> Callable[[str], bool]:
    """Whether a full method name needs the token: every method that is not open."""
    opened = open_methods(settings)

    def needs_token(method: str) -> bool:
        return method not in opened

    return needs_token


def loopback_waived(settings: Settings) -> Callable[[str], bool]:
    """Whether a full method name is accepted without the token from a loopback peer: the
    repository rpcs under ``management.repository_loopback_without_token``, nothing else."""
    waived = REPOSITORY_METHODS if settings.repository_loopback_without_token else frozenset()

    def without_token_from_loopback(method: str) -> bool:
        return method in waived

    return without_token_from_loopback


def loopback_peer(peer: str) -> bool:
    """Whether gRPC's peer string names a loopback address (``ipv4:127.0.0.1:5000``,
    ``ipv6:%5B::1%5D:5000``, an IPv4-mapped ``[::ffff:127.0.0.1]``); ``unix:`` and anything
    unparsable are not loopback."""
    for scheme in ("ipv4:", "ipv6:"):
        if peer.startswith(scheme):
            host = unquote(peer[len(scheme) :]).rsplit(":", 1)[0].strip("[]")
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return False
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            return address.is_loopback
    return False


def bearer_refusal(sent: str | bytes | None, token: str) -> str | None:
    """Why an ``authorization`` value does not carry the bearer ``token``; ``None`` if it does.

    Shared by the gRPC interceptor (metadata) and the HTTP binding (the header).
    """
    if sent is None:
        return MISSING_TOKEN
    sent_bytes = sent.encode() if isinstance(sent, str) else sent
    if not hmac.compare_digest(sent_bytes, f"Bearer {token}".encode()):
        return WRONG_TOKEN
    return None
