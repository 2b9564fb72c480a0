"""``drucker demo``: serve the embedded iris model and show predictions over real gRPC."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from drucker.client.aio import AsyncClient
from drucker.errors import DruckerError
from drucker.kinds import Kind
from drucker.server.lifecycle import build_runtime, serve
from drucker.settings import load_settings


async def _show_predictions(port: int, rows: tuple[list[float], ...]) -> None:
    async with AsyncClient(f"127.0.0.1:{port}") as client:
        for row in rows:
            best = await client.predict(row, output=Kind.STRING)
            ranked = await client.predict(row, output=Kind.ARR_STRING)
            answer = {
                "input": row,
                "label": best.label,
                "score": round(best.score, 4),
                "ranking": {
                    label: round(score, 4)
                    for label, score in zip(ranked.label, ranked.score, strict=True)
                },
            }
            click.echo(json.dumps(answer))


async def _demo(port: int, keep_serving: bool) -> None:
    from drucker_sklearn.demo import SAMPLE_ROWS, train_iris

    with tempfile.TemporaryDirectory(prefix="drucker-demo-") as workdir:
        model = train_iris(Path(workdir) / "iris.joblib")
        settings = load_settings(
            None,
            environ={},
            overrides={
                "port": port,
                "host": "127.0.0.1",
                "application_name": "iris-demo",
                "model_dir": workdir,
                "eval_dir": workdir,
                "log_predictions": False,
                "metrics_port": 0,  # a demo need not take port 8082
                "http_port": 0,  # nor 8080
            },
        )
        runtime = build_runtime("drucker_sklearn", settings)
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            serve(
                runtime,
                model_file=str(model),
                stop=stop,
                on_ready=ready.set_result,
                handle_signals=True,
            )
        )
        waiting: set[asyncio.Future[Any]] = {server, ready}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if server in done:
            server.result()  # start-up failed: raise its error
        bound = ready.result()
        click.echo(f"iris model served on 127.0.0.1:{bound}; predictions over gRPC:", err=True)
        click.echo(
            f"management token in {settings.token_file} (the dashboard's service form and "
            "--token-file take it)",
            err=True,
        )
        await _show_predictions(bound, SAMPLE_ROWS)
        if keep_serving:
            click.echo("serving until Ctrl-C", err=True)
        else:
            stop.set()
        await server


@click.command()
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option("--keep-serving", is_flag=True, help="Keep serving after the predictions.")
def demo(port: int, keep_serving: bool) -> None:
    """Train the iris example in a temporary directory, serve it and ask it three questions."""
    try:
        asyncio.run(_demo(port, keep_serving))
    except ImportError as exc:
        click.echo(f"drucker demo needs scikit-learn: pip install 'drucker[sklearn]' ({exc})")
        sys.exit(2)
    except DruckerError as exc:
        click.echo(f"drucker demo: {exc}", err=True)
        sys.exit(2)
