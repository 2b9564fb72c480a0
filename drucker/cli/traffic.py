"""``drucker traffic``: split a model's requests between its versions, shadow one, guard them,
promote one (the management rpcs of a running server)."""

from __future__ import annotations

import datetime
import json

import attrs
import click

from drucker.cli._client import client_options, exit_codes_help
from drucker.client import Client, Traffic

TRAFFIC_EXIT_CODES = exit_codes_help(usage="bad options or VERSION=WEIGHT", refused=True)


def _weight(text: str) -> tuple[str, float]:
    version, sep, weight = text.rpartition("=")
    if not sep or not version:
        raise click.BadParameter(f"{text!r} is not VERSION=WEIGHT", param_hint="WEIGHTS")
    try:
        return version, float(weight)
    except ValueError:
        raise click.BadParameter(
            f"the weight of {version!r} is not a number: {weight!r}", param_hint="WEIGHTS"
        ) from None


def _show(traffic: Traffic) -> None:
    """The policy and the live figures, as lines of text."""
    click.echo(f"model {traffic.model}: serving {traffic.serving}")
    split = " ".join(f"{v}={w:g}" for v, w in traffic.split.items())
    click.echo(f"split: {split or '-'}")
    if traffic.shadow_version:
        click.echo(f"shadow: {traffic.shadow_version} at fraction {traffic.shadow_fraction:g}")
    shadow = traffic.shadow
    if shadow.total:
        agreement = "-" if shadow.agreement is None else f"{shadow.agreement:.3f}"
        click.echo(
            f"agreement: {agreement} (agree {shadow.agree}, disagree {shadow.disagree}, "
            f"shadow_error {shadow.shadow_error}, dropped {shadow.dropped}; mean score "
            f"difference {shadow.mean_score_difference:.4f})"
        )
    for guard in traffic.guards:
        state = f"TRIPPED: {guard.reason}" if guard.tripped else "armed"
        click.echo(
            f"guard {guard.version}: max error rate {guard.max_error_rate}, min agreement "
            f"{guard.min_agreement}, window {guard.window}: {state}"
        )
    click.echo("VERSION\tREQUESTS\tERRORS\tP50 MS\tP99 MS\tLOADED")
    for v in traffic.versions:
        click.echo(
            f"{v.version}\t{v.requests}\t{v.errors}\t{v.latency_p50_ms:.2f}\t"
            f"{v.latency_p99_ms:.2f}\t{'yes' if v.loaded else 'no'}"
        )
    if traffic.changed_at:
        when = datetime.datetime.fromtimestamp(traffic.changed_at, datetime.UTC)
        click.echo(f"changed {when.isoformat(timespec='seconds')} by {traffic.changed_by}")


def _done(traffic: Traffic) -> None:
    click.echo(traffic.message or "done")


@click.group()
def traffic() -> None:
    """Split requests between a model's versions, shadow one, guard, promote."""


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@click.argument("weights", nargs=-1, required=True, metavar="VERSION=WEIGHT...")
@client_options
def split(client: Client, weights: tuple[str, ...]) -> None:
    """Split the requests by percent (the weights sum to 100), e.g. v1.joblib=90 v2.joblib=10;
    each version is loaded and smoke-tested before it takes traffic."""
    _done(client.set_split(dict(_weight(text) for text in weights)))


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@click.argument("version", required=False)
@click.option("--fraction", type=float, help="Share of the requests to shadow, in (0, 1].")
@click.option("--off", is_flag=True, help="Stop the shadow.")
@client_options
def shadow(client: Client, version: str | None, fraction: float | None, off: bool) -> None:
    """Also send a fraction of the requests to VERSION, off the request path, and compare its
    answers with the serving ones."""
    if off:
        _done(client.stop_shadow())
        return
    if version is None or fraction is None:
        raise click.UsageError("give VERSION and --fraction, or --off")
    _done(client.set_shadow(version, fraction))


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@click.argument("version")
@click.option("--max-error-rate", type=float, help="Take it out above this error rate.")
@click.option("--min-agreement", type=float, help="Take it out below this agreement.")
@click.option("--window", type=int, default=100, show_default=True, help="Requests per window.")
@click.option("--remove", is_flag=True, help="Drop the version's guard.")
@client_options
def guard(
    client: Client,
    version: str,
    max_error_rate: float | None,
    min_agreement: float | None,
    window: int,
    remove: bool,
) -> None:
    """Guard a split or shadow VERSION: crossing a threshold takes it out (weight 0, or the
    shadow stops), recorded in the history."""
    if remove:
        _done(client.remove_guard(version))
        return
    _done(
        client.set_guard(
            version, max_error_rate=max_error_rate, min_agreement=min_agreement, window=window
        )
    )


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@click.argument("version")
@client_options
def promote(client: Client, version: str) -> None:
    """Make VERSION serve 100 % (a switch), end the split and the shadow."""
    _done(client.promote(version))


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@client_options
def show(client: Client, as_json: bool) -> None:
    """The policy and the live figures (per version, and the shadow's agreement)."""
    current = client.traffic()
    if as_json:
        data = attrs.asdict(current)
        data["shadow"]["agreement"] = current.shadow.agreement
        click.echo(json.dumps(data, indent=2))
    else:
        _show(current)


@traffic.command(epilog=TRAFFIC_EXIT_CODES)
@client_options
def clear(client: Client) -> None:
    """Remove the policy: the serving version answers everything."""
    _done(client.clear_traffic())
