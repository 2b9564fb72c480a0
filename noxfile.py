"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s proto`,
`nox -s fuzz` (the fuzz suite at length; `nox -s fuzz -- 200000` for more cases),
`nox -s unasync` (regenerate the blocking client from the asyncio one)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

# Stubs are generated with this exact version so `nox -s proto` is reproducible;
# tests/unit/test_proto_drift.py fails when the committed stubs differ from its output.
GRPCIO_TOOLS = "grpcio-tools==1.75.1"
TEST_DEPS = [
    "pytest-cov>=5",
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",  # property-based round trips (coercion, V2 tensors)
    "tritonclient[grpc,http]>=2.50",
    "kubernetes-validate>=1.30",
    "kserve>=0.15",  # KServe's own InferenceGRPCClient, run by tests/clients/kserve_v2.py
    "kserve-storage>=0.15",  # KServe's storage initializer's download code (test_kserve_runtime)
    "moto[server]>=5.1",  # an S3 API server on loopback for the shared model store
    "playwright>=1.45",  # drives Debian's chromium in the dashboard's browser tests
    "schemathesis>=4.0",  # property-based runs against the dashboard's and V2 REST's OpenAPI
    GRPCIO_TOOLS,
]
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite, layer by layer: `nox -s tests -- tests/unit` runs one layer.

    tests/unit: no subprocess, network or Docker; tests/wire: real servers on loopback;
    tests/system: Docker, S3, Prometheus, PostgreSQL, a browser. The 20 slowest tests are
    listed in every run.
    """
    session.install("-e", ".[sklearn,bundle,dashboard,otel,s3]", *TEST_DEPS)
    coverage = ["--cov=drucker", "--cov-report=term:skip-covered"] if not session.posargs else []
    durations = ["--durations=20"]
    session.run("pytest", *coverage, *durations, *session.posargs, env={"PYTHONFAULTHANDLER": "1"})


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The fuzz suite at length: 50,000 hostile cases against every rpc (CI runs 3,000)."""
    session.install("-e", ".[sklearn,bundle]", *TEST_DEPS)
    examples = session.posargs[0] if session.posargs else "50000"
    session.run(
        "pytest",
        "tests/wire/test_fuzz.py",
        "-s",
        "--timeout=0",  # the length is the point
        env={"DRUCKER_FUZZ_EXAMPLES": examples, "PYTHONFAULTHANDLER": "1"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style with ruff (lint and formatting) and that the blocking client is current."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tools/unasync.py", "--check")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Check types with mypy in strict mode."""
    session.install(
        "-e", ".[sklearn,bundle,dashboard,otel]", "mypy==2.4.1", "types-PyYAML", "types-protobuf"
    )
    session.run("mypy")


@nox.session(python=PYTHON)
def proto(session: nox.Session) -> None:
    """Regenerate the protobuf and gRPC stubs from proto/."""
    session.install(GRPCIO_TOOLS)
    session.run("python", "tools/gen_proto.py")


@nox.session(python=PYTHON)
def unasync(session: nox.Session) -> None:
    """Regenerate drucker/client/_sync.py from drucker/client/aio.py (tools/unasync.py)."""
    session.run("python", "tools/unasync.py")
