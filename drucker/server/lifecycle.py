"""Start-up and shutdown of a drucker service: settings → plugins → runtime → server."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Mapping

from drucker.errors import DruckerError
from drucker.events import EventLog, Level
from drucker.management import ModelManager
from drucker.observability import NO_METRICS, Metrics, Tracing, bridge_logging
from drucker.observability.tracing import wanted as tracing_wanted
from drucker.plugins import build_plugin_manager
from drucker.protocol.auth import resolve_token
from drucker.records import system_event_log
from drucker.runtime import Runtime
from drucker.server.follow_models import follow_repository, follow_switches
from drucker.server.grpc_server import DruckerServer
from drucker.server.http import HttpServer, connection_cap
from drucker.server.loops import loop_factory, loop_name
from drucker.server.memory import MemoryPolicy
from drucker.server.metrics_app import MetricsApp
from drucker.server.model_set import ModelSet, load_models
from drucker.server.options import ServeOptions, build_settings
from drucker.server.parent import die_with_supervisor
from drucker.server.supervisor import Supervisor
from drucker.server.traffic_follow import follow_traffic
from drucker.settings import Settings


def system_log(settings: Settings, disabled: tuple[str, ...] = ()) -> EventLog:
    """An event log through the additive (log) plugins only, for the worker supervisor."""
    plugins = build_plugin_manager(None, disabled=disabled, require_model=False)
    return system_event_log(plugins, settings)


def log_level(settings: Settings) -> Level:
    """The lowest level logged (``log.level``)."""
    return Level[settings.log_level.upper()]


def build_runtime(
    plugin: str | object | None,
    settings: Settings,
    *,
    extra_plugins: tuple[object, ...] = (),
    disabled: tuple[str, ...] = (),
    memory: MemoryPolicy | None = None,
) -> Runtime:
    """The runtime with the model plugin, ``extra_plugins`` and the installed additive plugins;
    it thaws the heap through ``memory`` (the process's memory policy) when a model is replaced.

    :raises PluginError: when the plugins cannot be loaded or do not fit together.
    """
    plugins = build_plugin_manager(plugin, extra_plugins=extra_plugins, disabled=disabled)
    return Runtime(plugins, settings, thaw=(memory or MemoryPolicy()).thaw)


def _rest_server(
    server: DruckerServer,
    token: str | None,
    port: int | None,
    reuse_port: bool,
    metrics: Metrics | None,
) -> HttpServer | None:
    """The V2 REST binding on ``http.port`` (or ``port``), over the gRPC server's data plane."""
    settings = server.runtime.settings
    if port is None:
        if not settings.http_port:
            return None
        port = settings.http_port
    # Imported only when the port is on (orjson and the binding's modules).
    from drucker.protocol.v2.rest import V2RestApp

    app = V2RestApp(
        server.plane,
        server.runtime.log,
        token=token if settings.protect_predictions else None,
        max_body_bytes=settings.max_message_bytes,
        body_timeout=settings.http_read_timeout_seconds,
        infer_recorder=metrics.rest_recorder("ModelInfer") if metrics is not None else None,
        repository=server.repository,
        management_token=token,
    )
    return HttpServer(
        app,
        host=settings.host,
        port=port,
        name="http",
        reuse_port=reuse_port,
        grace_seconds=settings.grace_seconds,
        head_timeout=settings.http_read_timeout_seconds,
        max_connections=connection_cap(),
        tls=_tls_files(settings),
    )


def _hold(reason: str, managers: tuple[ModelManager, ...]) -> None:
    """Serve none of ``managers``' models: each refuses predictions and is not ready, with
    ``reason`` (logged as an error: the one line an operator reads first)."""
    for held in managers:
        held.runtime.not_loaded_reason = reason
    managers[0].runtime.log.error(
        f"not ready: {reason}; predictions are refused until the server restarts with a model",
        reason=reason,
    )


def _tls_files(settings: Settings) -> tuple[str, str] | None:
    """The certificate and key every port speaks TLS with, when the settings give them."""
    if settings.tls_cert and settings.tls_key:
        return settings.tls_cert, settings.tls_key
    return None


async def serve(
    runtime: Runtime,
    *,
    model_file: str | None = None,
    model_sha256: str | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    handle_signals: bool = False,
    follow_store: bool = False,
    http_port: int | None = None,
    on_http_ready: Callable[[int], None] | None = None,
    force_model: bool = False,
    memory: MemoryPolicy | None = None,
    models: Mapping[str, str] | None = None,
    not_ready: str | None = None,
) -> None:
    """Bind, load the model, serve until ``stop`` is set, then drain in-flight requests.

    With ``not_ready`` (why there is no model to serve: an engine's model directory that is
    empty, missing or ambiguous), nothing is loaded: the server stays up and not ready, its
    readiness answers and every refused prediction (``UNAVAILABLE``) give that reason.

    ``models`` (``--model NAME=FILE``) serves each file as the model of that name, beside or
    instead of ``model_file`` (the model named ``app.name``); the first is the default model
    (requests that name none) unless ``app.name`` is one of them.

    ``memory`` (the process's memory policy; a new one by default) settles the heap once the
    model serves, pauses the collector for big tensors and trims after big messages.

    With ``handle_signals`` (main thread only), SIGTERM and SIGINT set ``stop`` too. With
    ``follow_store`` (one of several workers), the port is shared. A worker, and any replica of
    a shared store (``store.url``), follows the model switches made through the others. The V2
    REST binding listens on ``http.port`` unless ``http_port`` replaces it (there, 0 asks for
    any free port); ``on_http_ready`` gets the bound HTTP port before ``on_ready`` gets the
    gRPC one.

    :raises DruckerError: when the port cannot be bound or the model cannot be loaded.
    """
    settings, log = runtime.settings, runtime.log
    for key in settings.ignored_keys:
        log.warning(f"settings key {key!r} is from drucker 0.4.5 and has no effect now")
    metrics = Metrics() if settings.metrics_port else None
    tracing = Tracing.from_environment(settings.application_name)
    if tracing is None and tracing_wanted():
        log.warning("OTEL_* asks for traces, but the otel extra is not installed: no tracing")
    model_set = ModelSet.starting(runtime, metrics or NO_METRICS, models or {})
    files = model_set.files
    default = runtime.name if not files or runtime.name in files else next(iter(files))
    if model_file is not None:
        files.setdefault(default, model_file)
    manager = model_set.manager(default)
    others = tuple(model_set.manager(name) for name in files if name != default)
    token = resolve_token(settings, log)
    memory = memory or MemoryPolicy()
    server = DruckerServer(
        manager,
        others=others,
        build=model_set.build,
        stored=model_set.stored,
        reload=model_set.reload,
        host=settings.host,
        port=settings.port,
        token=token,
        reuse_port=follow_store,
        metrics=metrics,
        tracing=tracing,
        memory=memory,
    )
    port = server.bind()
    metrics_http = None
    if metrics is not None:
        metrics_http = HttpServer(
            MetricsApp(metrics, lambda: server.serving, lambda: server.models.unready_reason),
            host=settings.host,
            port=settings.metrics_port,
            name="metrics",
            reuse_port=follow_store,
            grace_seconds=settings.grace_seconds,
            # the probes port closes slow and idle connections as the V2 port does
            head_timeout=settings.http_read_timeout_seconds,
            max_connections=connection_cap(),
            tls=_tls_files(settings),
        )
        metrics_http.bind()
    rest = _rest_server(server, token, http_port, follow_store, metrics)
    if rest is not None:
        rest.bind()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        # Health answers NOT_SERVING (and predictions UNAVAILABLE) while the model loads.
        await server.start()
        for port_server in (metrics_http, rest):
            if port_server is not None:
                await port_server.start()
        try:
            if not_ready is not None:
                _hold(not_ready, (manager, *others))
            else:
                start = files.get(default) or model_file
                await load_models(
                    model_set, server.repository, manager, others, start, model_sha256, force_model
                )
        except BaseException:
            await _stop(server, rest, metrics_http, tracing)
            raise
        await server.health.refresh()
        memory.settle()
        followers = []
        following = (follow_store or manager.shared_store) and not_ready is None
        if following:  # each served model follows its switches
            followers.append(asyncio.create_task(follow_switches(server.models, log)))
        if (
            manager.shared_store and not_ready is None
        ):  # and the loads and unloads through the repository
            interval = settings.store_follow_interval
            followers.append(
                follow_repository(server.repository, settings.store_url, interval, log)
            )
        followers.append(asyncio.create_task(follow_traffic(server.traffic, runtime, following)))
        try:
            if rest is not None and on_http_ready is not None:
                on_http_ready(rest.port or 0)
            await _serve_until(stop, runtime, server, port, on_ready, rest, metrics_http, tracing)
        finally:
            for follower in followers:
                follower.cancel()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _serve_until(
    stop: asyncio.Event,
    runtime: Runtime,
    server: DruckerServer,
    port: int,
    on_ready: Callable[[int], None] | None,
    rest: HttpServer | None,
    metrics_http: HttpServer | None,
    tracing: Tracing | None,
) -> None:
    settings, log = runtime.settings, runtime.log
    rows = server.repository.index()
    log.info(
        f"serving on port {port}" + (f", V2 REST on HTTP port {rest.port}" if rest else ""),
        port=port,
        http_port=rest.port if rest else None,
        metrics_port=metrics_http.port if metrics_http else None,
        tracing=tracing is not None,
        event_loop=loop_name(asyncio.get_running_loop()),
        service_level=settings.service_level.value,
        settings_file=settings.source,
        models=server.models.names(),
        # every model of the repository: its serving version, or why it is not served
        model_states={row.name: row.version or f"{row.state}: {row.reason}" for row in rows},
    )
    if on_ready is not None:
        on_ready(port)
    try:
        await stop.wait()
    finally:
        log.info(f"shutting down: in-flight requests get {settings.grace_seconds:g} s to finish")
        await _stop(server, rest, metrics_http, tracing)
        log.info("stopped")


async def _stop(
    server: DruckerServer,
    rest: HttpServer | None,
    metrics_http: HttpServer | None,
    tracing: Tracing | None,
) -> None:
    """Drain gRPC and V2 REST together (/readyz says 503 meanwhile) and close the dispatcher
    they share, then stop the metrics port, then flush the spans."""
    try:
        await server.stop(alongside=(rest.stop(),) if rest is not None else ())
    finally:
        if metrics_http is not None:
            await metrics_http.stop()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)


def run(options: ServeOptions) -> int:
    """Serve until a signal stops it; return the process exit code."""
    try:
        settings = build_settings(options)
        if settings.workers > 1:
            # The supervisor only starts processes: it loads neither the plugin nor a model.
            log = system_log(settings, options.disabled_plugins)
            bridge_logging(log, log_level(settings))
            return Supervisor(settings, log, options.worker_args()).run()
        memory = MemoryPolicy()
        runtime = build_runtime(
            options.plugin, settings, disabled=options.disabled_plugins, memory=memory
        )
    except DruckerError as exc:
        print(f"drucker serve: {exc}", file=sys.stderr)
        return 2
    bridge_logging(runtime.log, log_level(settings))
    if options.worker:
        die_with_supervisor()
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(
                serve(
                    runtime,
                    model_file=options.model_file,
                    model_sha256=options.model_sha256,
                    force_model=options.force_model,
                    models=dict(options.models),
                    handle_signals=True,
                    follow_store=options.worker,
                    memory=memory,
                    not_ready=options.not_ready,
                )
            )
    except DruckerError as exc:
        runtime.log.error(f"cannot start: {exc}")
        print(f"drucker serve: {exc}", file=sys.stderr)
        return 2
    return 0
