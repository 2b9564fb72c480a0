"""The smoke start at the end of ``drucker bundle build``: the image must start and serve.

The image is run once with its gRPC port published on a free loopback port; the build waits
until the standard health service answers SERVING (the model loaded), predicts the bundle's
``smoke_input`` (when ``bundle.yaml`` gives one; the output kind follows the model's
signature, as ``drucker predict`` does), then stops and removes the container. An image
that exits, does not serve in time or refuses the input fails the build with the container's
last log lines: a missing system library shows at build time, not at ``docker run``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from drucker.bundle.manifest import Manifest
from drucker.errors import ConfigurationError

DEFAULT_TIMEOUT = 120.0
LOG_LINES = 20
POLL_SECONDS = 0.25
STOP_SECONDS = 15


def smoke_start(
    client: Any,
    manifest: Manifest,
    progress: Callable[[str], None],
    smoke_input: str | list[float] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> float:
    """Run the bundle's image until it serves (and answers ``smoke_input``); the seconds
    that took.

    :raises ConfigurationError: with the container's last log lines when it exits, does not
        answer SERVING within ``timeout`` seconds, or refuses the smoke input.
    """
    progress(f"smoke start: running {manifest.tag} until it serves")
    started = time.monotonic()
    container = client.containers.run(
        manifest.tag,
        detach=True,
        ports={f"{manifest.port}/tcp": ("127.0.0.1", None)},
        labels={"io.drucker.smoke": manifest.tag},
    )
    try:
        target = _wait_serving(container, manifest, started, timeout)
        if smoke_input is not None:
            answer = _predict(container, manifest, target, smoke_input)
            progress(f"smoke start: {smoke_input!r} -> {answer}")
        seconds = time.monotonic() - started
        progress(f"smoke start: {manifest.tag} served in {seconds:.1f} s")
        return seconds
    finally:
        try:
            container.stop(timeout=STOP_SECONDS)
        finally:
            container.remove(force=True)


def _wait_serving(container: Any, manifest: Manifest, started: float, timeout: float) -> str:
    """The published ``host:port`` once the container serves."""
    from drucker.client import Client

    deadline = started + timeout
    target: str | None = None
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs["State"].get("ExitCode")
            raise _failure(container, manifest, f"exited with code {code} at start")
        target = target or _published(container, manifest.port)
        if target is not None and _serving(Client, target):
            return target
        time.sleep(POLL_SECONDS)
    raise _failure(container, manifest, f"did not answer SERVING within {timeout:g} s")


def _published(container: Any, port: int) -> str | None:
    bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp")
    if not bindings:
        return None
    return f"127.0.0.1:{bindings[0]['HostPort']}"


def _serving(client_class: Any, target: str) -> bool:
    from drucker.client.errors import ClientError

    try:
        with client_class(target, timeout=2.0, max_attempts=1) as client:
            return bool(client.health())
    except ClientError:
        return False


def _predict(container: Any, manifest: Manifest, target: str, value: Any) -> str:
    from drucker.client import Client, ClientError, output_kind_of

    with Client(target, timeout=30.0) as client:
        try:
            signature = client.signature()
        except ClientError:
            signature = None  # no Open Inference service: String, as drucker predict does
        try:
            result = client.predict(value, output=output_kind_of(signature))
        except ClientError as error:
            raise _failure(container, manifest, f"refused the smoke input: {error}") from None
    return f"label {result.label!r}, score {result.score!r}"


def _failure(container: Any, manifest: Manifest, what: str) -> ConfigurationError:
    logs = container.logs(tail=LOG_LINES).decode("utf-8", "replace").rstrip()
    return ConfigurationError(
        f"smoke start: the image {manifest.tag} {what} (build with --no-smoke to skip the "
        f"check); its last log lines:\n{logs or '(none)'}"
    )
