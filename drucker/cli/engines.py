"""How the serving engines start a runtime, mapped onto drucker's own options (the edge).

KServe starts a ServingRuntime's container with ``--model_name``, ``--model_dir`` (where its
storage initializer put the InferenceService's ``storageUri``, ``/mnt/models``), ``--http_port``
and ``--grpc_port``, and sets ``STORAGE_URI``. ``drucker serve`` takes those spellings as
aliases of its own options; this module finds the model file in the model directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from drucker.errors import ConfigurationError

STORAGE_URI_ENV = "STORAGE_URI"


def model_in_directory(directory: str, bundled: str | None) -> str:
    """The model file KServe's storage initializer left in ``directory``.

    A file of the bundled model's name wins; otherwise the directory must hold exactly one
    regular file (hidden files left aside), or a model of a directory format (``directory``
    itself then is the model). Without ``STORAGE_URI`` and without the directory (an
    InferenceService with no ``storageUri``), the ``bundled`` model serves.

    :raises ConfigurationError: the directory is missing or empty, or holds several files.
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
        f"--model_dir {directory} holds {len(entries)} entries ({names}): put one model file "
        f"there, or one named {Path(bundled).name if bundled else 'as the bundle model'}"
    )
