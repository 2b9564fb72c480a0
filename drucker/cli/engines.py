"""How the serving engines start a runtime, mapped onto drucker's own options (the edge).

KServe starts a ServingRuntime's container with ``--model_name``, ``--model_dir`` (where its
storage initializer put the InferenceService's ``storageUri``, ``/mnt/models``), ``--http_port``
and ``--grpc_port``, and sets ``STORAGE_URI``. ``drucker serve`` takes those spellings as
aliases of its own options; this module finds the model file in the model directory.

Seldon Core 2's agent expects the server on the ports of ``SELDON_SERVER_HTTP_PORT`` and
``SELDON_SERVER_GRPC_PORT`` (its ServerConfig gives the server container the same variables):
they become ``http.port`` and ``app.port`` unless the command line gives those. The models
directory the agent fills is ``repository.models_dir`` (read by the server, see
:mod:`drucker.server.engine_models`), with ``app.load_models_at_startup: false``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from drucker.errors import ConfigurationError

STORAGE_URI_ENV = "STORAGE_URI"
SELDON_HTTP_PORT_ENV = "SELDON_SERVER_HTTP_PORT"
SELDON_GRPC_PORT_ENV = "SELDON_SERVER_GRPC_PORT"


def seldon_ports(environ: Mapping[str, str] | None = None) -> tuple[int | None, int | None]:
    """The gRPC and HTTP ports Seldon's agent calls the server on (``None``: not set).

    :raises ConfigurationError: for a value that is not a port.
    """
    env = os.environ if environ is None else environ
    ports: list[int | None] = []
    for name in (SELDON_GRPC_PORT_ENV, SELDON_HTTP_PORT_ENV):
        value = env.get(name, "").strip()
        if not value:
            ports.append(None)
            continue
        if not value.isdigit() or not 0 < int(value) <= 65535:
            raise ConfigurationError(
                f"environment variable {name}: {value!r} is not a port (1 to 65535)"
            )
        ports.append(int(value))
    return ports[0], ports[1]


def model_in_directory(directory: str, bundled: str | None) -> str:
    """The model file KServe's storage initializer left in ``directory``.

    A file of the bundled model's name wins; otherwise the directory must hold exactly one
    regular file (hidden files left aside), or a model of a directory format (``directory``
    itself then is the model). Without ``STORAGE_URI`` and without the directory (an
    InferenceService with no ``storageUri``), the ``bundled`` model serves.

    :raises ConfigurationError: the directory is missing or empty, or holds several files
        (``drucker serve`` then starts not ready, with this reason).
    """
    root = Path(directory)
    source = os.environ.get(STORAGE_URI_ENV)
    whence = f" (downloaded from {STORAGE_URI_ENV}={source})" if source else ""
    if not root.is_dir() and bundled is not None and not source:
        return bundled  # no storageUri: KServe mounted nothing, the bundled model serves
    if not root.is_dir():
        raise ConfigurationError(f"--model_dir {directory} is not a directory{whence}")
    if bundled is not None and (root / Path(bundled).name).is_file():
        return str(root / Path(bundled).name)
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.is_file()]
    if not entries:
        raise ConfigurationError(f"--model_dir {directory} is empty: no model to serve{whence}")
    if len(files) == 1 and len(entries) == 1:
        return str(files[0])
    if not files:
        return str(root)
    names = ", ".join(p.name for p in entries[:5])
    raise ConfigurationError(
        f"--model_dir {directory} holds {len(entries)} entries ({names}){whence}: put one "
        f"model file there, or one named {Path(bundled).name if bundled else 'as the bundle model'}"
    )
