"""The dashboard's database layer on SQLite and on a real PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import inspect, select

from drucker.dashboard import accounts, audit, operations, queries
from drucker.dashboard.config import normalized_database_url
from drucker.dashboard.db import Database
from drucker.dashboard.models import Evaluation, Service, Switch
from tests.dashboard_support import DashboardProcess, drucker_cli, postgres_cluster


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dashboard.sqlite3'}"
    else:
        url = normalized_database_url(request.getfixturevalue("postgres_url"))
    database = Database(url)
    database.migrate()
    yield database
    if request.param == "postgresql":
        with database.engine.begin() as connection:
            for table in (
                "audit",
                "evaluations",
                "switches",
                "model_notes",
                "api_tokens",
                "services",
                "login_sessions",
                "users",
                "alembic_version",
            ):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    database.close()


def test_migrations_create_every_table_and_run_again_harmlessly(db: Database) -> None:
    db.migrate()
    tables = set(inspect(db.engine).get_table_names())
    expected = {"users", "api_tokens", "login_sessions", "services", "switches", "evaluations"}
    assert expected | {"audit"} <= tables
    with db.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version == "0003"
    switch_columns = {column["name"] for column in inspect(db.engine).get_columns("switches")}
    assert "model" in switch_columns  # the model of a server of several (issue 23)


def test_users_passwords_and_tokens(db: Database) -> None:
    with db.session() as session:
        user = accounts.create_user(session, "ada", "editor", "correct horse")
        assert user.password_hash.startswith("$argon2id$")
        token = accounts.issue_token(session, user, "ci")
    with db.session() as session:
        assert accounts.authenticate(session, "ada", "correct horse") is not None
        assert accounts.authenticate(session, "ada", "wrong horse!") is None
        assert accounts.authenticate(session, "nobody", "correct horse") is None
        owner = accounts.user_of_token(session, token)
        assert owner is not None and owner.name == "ada"
        assert accounts.user_of_token(session, token + "x") is None
        with pytest.raises(accounts.AccountError, match="exists"):
            accounts.create_user(session, "ada", "viewer", "another password")
        with pytest.raises(accounts.AccountError, match="role"):
            accounts.create_user(session, "bob", "root", "another password")
        with pytest.raises(accounts.AccountError, match="8 characters"):
            accounts.create_user(session, "bob", "viewer", "short")


def test_switch_history_rollback_and_audit_filters(db: Database) -> None:
    with db.session() as session:
        service = Service(
            address="127.0.0.1:1", application="iris", service_name="dev", level="development"
        )
        session.add(service)
        session.flush()
        fields = ("from_model", "to_model", "is_rollback")
        for values in (("a", "b", False), ("b", "c", False), ("c", "b", True)):
            switch = dict(zip(fields, values, strict=True))
            session.add(Switch(service_id=service.id, ok=True, user="ada", **switch))
        audit.record(session, "ada", "switch", application="iris", before="a", after="b")
        audit.record(session, "bob", "upload", application="wine", after="m", ok=False)
        service_id = service.id
    history = queries.history(db, service_id)
    assert [s.to_model for s in history] == ["b", "c", "b"]
    assert operations.rollback_target(history) == "a"  # c→b undid b→c; next back is a
    with db.session() as session:
        assert [e.user for e in audit.entries(session, application="iris")] == ["ada"]
        assert [e.action for e in audit.entries(session, user="bob")] == ["upload"]
        assert len(audit.entries(session)) == 2


def test_evaluations_keep_json_columns(db: Database) -> None:
    with db.session() as session:
        session.add(
            Evaluation(
                application="iris",
                service_address="127.0.0.1:1",
                data_name="d.csv",
                result_name="r",
                model_name="m",
                num=3,
                accuracy=2 / 3,
                labels=["a", "b"],
                precision=[1.0, 0.5],
                recall=[0.5, 1.0],
                f1=[2 / 3, 2 / 3],
                confusion=[[1, 1], [0, 1]],
                details_csv="input,label\n",
                created_by="ada",
            )
        )
    with db.session() as session:
        row = session.scalars(select(Evaluation)).one()
        assert row.labels == ["a", "b"] and row.confusion == [[1, 1], [0, 1]]
        assert row.f1[0] == pytest.approx(2 / 3)


def test_the_dashboard_process_runs_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """`drucker dashboard --database postgresql://...`: migrations at start, users from the CLI."""
    import httpx

    from tests.dashboard_api_support import api_token

    data = str(tmp_path / "data")
    drucker_cli(
        *("dashboard", "create-user", "ada", "--role", "admin", "--data-dir", data),
        *("--database", postgres_url),
        input="a good password\n",
    )
    dashboard = DashboardProcess(tmp_path / "data", database=postgres_url)
    try:
        dashboard.wait_ready()
        token = api_token(dashboard.url, "ada", "a good password")
        me = httpx.get(
            dashboard.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert me.json() == {"name": "ada", "role": "admin"}
    finally:
        dashboard.stop()
    assert not (tmp_path / "data" / "dashboard.sqlite3").exists()
