"""`drucker dashboard create-user` run as a command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drucker.dashboard import accounts
from drucker.dashboard.db import Database
from tests.dashboard_support import drucker_cli


def test_create_user_reads_stdin_or_generates_a_password(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    drucker_cli(
        "dashboard",
        "create-user",
        "ada",
        "--role",
        "admin",
        "--data-dir",
        data,
        input="a good password\n",
    )
    generated = drucker_cli("dashboard", "create-user", "bob", "--data-dir", data).strip()
    assert len(generated) >= 16
    db = Database(f"sqlite:///{tmp_path / 'data' / 'dashboard.sqlite3'}")
    with db.session() as session:
        ada = accounts.authenticate(session, "ada", "a good password")
        bob = accounts.authenticate(session, "bob", generated)
        assert ada is not None and ada.role == "admin"
        assert bob is not None and bob.role == "viewer"
    db.close()


def test_a_port_from_the_environment_stops_the_dashboard_with_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drucker", "dashboard", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRUCKER_DASHBOARD_PORT": "70000"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "drucker dashboard: environment variable DRUCKER_DASHBOARD_PORT: "
        "70000 is not a port (0 to 65535)"
    )
    assert not (tmp_path / "dashboard.sqlite3").exists()  # stopped before it began
