"""The ``drucker`` command line: one click group, one module per command family."""

from __future__ import annotations

import click

from drucker._version import __version__
from drucker.cli.bundle import bundle
from drucker.cli.dashboard import dashboard
from drucker.cli.demo import demo
from drucker.cli.health import health
from drucker.cli.model import data, evaluate, model
from drucker.cli.predict import predict
from drucker.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drucker")
def main() -> None:
    """Serve machine-learning models over gRPC from a small plugin module."""


main.add_command(serve)
main.add_command(demo)
main.add_command(health)
main.add_command(bundle)
main.add_command(predict)
main.add_command(model)
main.add_command(evaluate)
main.add_command(dashboard)
main.add_command(data)
