"""``import drucker.client`` in a fresh interpreter loads no pluggy, PyYAML or cattrs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = (
    "import sys, drucker.client, drucker.client.aio; "
    "print(sorted(m for m in ('pluggy', 'yaml', 'cattrs') if m in sys.modules))"
)


def test_import_drucker_client_loads_no_server_side_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_public_names_still_import() -> None:
    probe = "from drucker import Settings, hookimpl, PredictResult, Kind; print(Settings.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Settings"
