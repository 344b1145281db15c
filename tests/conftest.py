# ---------------------------------------------------------------------------
# Test harness fixtures (databases and shared data).
#
# database_url   -- parametrized [sqlite, postgresql]: a fresh, empty database per test,
#                   as an SQLAlchemy URL string.
#                   * sqlite:     sqlite:///<tmp_path>/civiccrm.db
#                   * postgresql: a new database on the server that scripts/with-postgres
#                     starts (it exports CIVICCRM_TEST_POSTGRES_URL); dropped after the
#                     test. Without that variable the test fails, or skips when
#                     CIVICCRM_SKIP_POSTGRES=1. Deselect with -m "not postgresql".
# shared_data    -- Path to ../shared/data (the real public data sets); skips if missing.
#
# Keep this block importable without project code. Add further fixtures below it.
# ---------------------------------------------------------------------------
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL_ENV = "CIVICCRM_TEST_POSTGRES_URL"
SKIP_POSTGRES_ENV = "CIVICCRM_SKIP_POSTGRES"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: test runs against a real PostgreSQL server"
    )


def _postgres_database_url() -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        message = (
            f"{POSTGRES_URL_ENV} is not set: run the suite through `make test` or "
            "`scripts/with-postgres <pytest command>`, which start a throwaway "
            f"PostgreSQL server (or set {SKIP_POSTGRES_ENV}=1 to skip PostgreSQL tests)"
        )
        if os.environ.get(SKIP_POSTGRES_ENV) == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(base)
    connect_args = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database or "postgres",
    }
    connect_args = {k: v for k, v in connect_args.items() if v is not None}
    name = f"t_{uuid.uuid4().hex}"

    with psycopg.connect(autocommit=True, **connect_args) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(autocommit=True, **connect_args) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database (SQLite file or PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'civiccrm.db'}"
    else:
        yield from _postgres_database_url()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data beside the repository (real public data sets)."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


# --- end of harness fixtures; add project fixtures below ---------------------

import sys  # noqa: E402

# Plugins installed in the environment stay out of the test run (Datasette's habit);
# a test that wants them calls civiccrm.plugins.load_entry_point_plugins().
sys._civiccrm_test_run = True


@pytest.fixture
def deployment(database_url):
    """A Kansas City deployment on a fresh database (SQLite and PostgreSQL)."""
    from civiccrm.services.deployment import init_deployment

    dep = init_deployment(database_url, "kansas-city")
    yield dep
    dep.engine.dispose()


@pytest.fixture(scope="session")
def fixed_sla_folder(tmp_path_factory):
    """The test profile's folder (tests/profile_helpers.py fixed_sla_profile), copied once; tests only read it."""
    from profile_helpers import fixed_sla_profile

    return fixed_sla_profile(tmp_path_factory.mktemp("fixed-sla"))


@pytest.fixture
def fixed_sla_deployment(database_url, fixed_sla_folder):
    """A Kansas City deployment whose time-frames are the test's own (tests/profile_helpers.py
    FIXED_SLA_POLICIES: abandoned vehicle 5 calendar days on the action-center calendar, ...), for
    tests of the SLA engine's mechanics that must not move when the city's time-frames are refitted."""
    from civiccrm.services.deployment import init_deployment

    dep = init_deployment(database_url, str(fixed_sla_folder))
    yield dep
    dep.engine.dispose()


@pytest.fixture
def sqlite_deployment(tmp_path):
    """A Kansas City deployment on SQLite only, for tests that need no second backend."""
    from civiccrm.services.deployment import init_deployment

    dep = init_deployment(f"sqlite:///{tmp_path / 'civiccrm.db'}", "kansas-city")
    yield dep
    dep.engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Staff passwords stay argon2id in tests, with parameters cheap enough for a shared 2-core machine."""
    from civiccrm.services import users

    users.set_hasher_parameters(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def staffed(deployment):
    """The deployment with one staff user of every role (tests/web_helpers.py STAFF)."""
    from tests.web_helpers import add_staff

    add_staff(deployment)
    return deployment
