"""`drucker dashboard create-user` run as a command."""

from __future__ import annotations

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
