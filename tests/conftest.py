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


TEMPROOT_ENV = "PYTEST_DEBUG_TEMPROOT"  # pytest's own: where tmp_path and tmp_path_factory make their folders
MEMORY_FOLDER = "/dev/shm"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: test runs against a real PostgreSQL server"
    )
    # The tests' files (SQLite databases above all) live in memory when the machine has a tmpfs:
    # the store keeps synchronous=FULL, and each commit's fsync, 3-4 ms on this machine's disk,
    # is free there. Only pytest's folders move; a set PYTEST_DEBUG_TEMPROOT wins. A small tmpfs (a container's
    # 64 MB /dev/shm) would fill: it is used only with MEMORY_FOLDER_ROOM free.
    if not os.environ.get(TEMPROOT_ENV) and _roomy(MEMORY_FOLDER):
        os.environ[TEMPROOT_ENV] = MEMORY_FOLDER


MEMORY_FOLDER_ROOM = 4 << 30


def _roomy(folder: str) -> bool:
    if not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
        return False
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize >= MEMORY_FOLDER_ROOM


def _postgres_server():
    """The server scripts/with-postgres started: (its URL, psycopg connection arguments).

    Fails, or skips when CIVICCRM_SKIP_POSTGRES=1, without it."""
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

    from sqlalchemy.engine import make_url

    url = make_url(base)
    connect_args = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database or "postgres",
    }
    return url, {k: v for k, v in connect_args.items() if v is not None}


def create_postgres_database(name: str, template: str | None = None) -> str:
    """CREATE DATABASE ``name`` (a copy of ``template`` when given) on the test server; its URL."""
    import psycopg
    from psycopg import sql

    url, connect_args = _postgres_server()
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(autocommit=True, **connect_args) as conn:
        conn.execute(statement)
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    _, connect_args = _postgres_server()
    with psycopg.connect(autocommit=True, **connect_args) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _postgres_database_url(create: bool = True) -> Iterator[str]:
    """A new database's URL, dropped afterwards; ``create=False`` leaves creating it to the caller."""
    name = f"t_{uuid.uuid4().hex}"
    if create:
        url = create_postgres_database(name)
    else:
        url = _postgres_server()[0].set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        drop_postgres_database(name)


_COPIES_INTO_DATABASE_URL = {"deployment", "fixed_sla_deployment"}


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
        # These fixtures create the database themselves, as a copy of a template.
        yield from _postgres_database_url(create=not _COPIES_INTO_DATABASE_URL & set(request.fixturenames))


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


class _Templates:
    """One initialised database per city profile and backend in each test process, made on first use;
    each ``deployment`` / ``sqlite_deployment`` / ``fixed_sla_deployment`` starts from a copy of it
    instead of running the migrations and the profile sync again (what ``init_deployment`` does to an
    empty database). The profile is read from its folder once too, and each deployment gets its own
    copy of it (a test may change ``profile.settings``). ``staff=True``: a second template, a copy of
    the first with the staff users of ``staffed`` added (argon2 hashing once, not once a test)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.sqlite_files: dict[tuple[str, bool], Path] = {}
        self.postgres_names: dict[tuple[str, bool], str] = {}
        self._profiles: dict[str, _ProfileCopies] = {}

    def sqlite(self, city: str = "kansas-city", staff: bool = False) -> Path:
        if (city, staff) not in self.sqlite_files:
            path = self.folder / f"template-{uuid.uuid4().hex}.db"
            self._fill(f"sqlite:///{path}", city, staff)
            assert not Path(f"{path}-wal").exists(), "the template's WAL was not checkpointed on close"
            self.sqlite_files[city, staff] = path
        return self.sqlite_files[city, staff]

    def postgresql(self, city: str = "kansas-city", staff: bool = False) -> str:
        if (city, staff) not in self.postgres_names:
            name = f"tmpl_{uuid.uuid4().hex}"
            # Without staff the database is made empty here; with staff _deployment_on_copy makes it.
            url = _postgres_server()[0].set(database=name).render_as_string(hide_password=False)
            self._fill(url if staff else create_postgres_database(name), city, staff)
            self.postgres_names[city, staff] = name
        return self.postgres_names[city, staff]

    def _fill(self, url: str, city: str, staff: bool) -> None:
        if staff:
            from tests.web_helpers import add_staff

            deployment = _deployment_on_copy(self, url, city)
            add_staff(deployment)
        else:
            from civiccrm.services.deployment import init_deployment

            deployment = init_deployment(url, city)
            self._profiles.setdefault(city, _ProfileCopies(deployment.base_profile))  # as the folder gives it
        deployment.engine.dispose()

    def profile(self, city: str):
        """A copy of the city's profile as its folder gives it (the template was made first)."""
        return self._profiles[city].copy()

    def close(self) -> None:
        for name in self.postgres_names.values():
            drop_postgres_database(name)


class _ProfileCopies:
    """Copies of one loaded profile, by pickle (C speed: ~15 ms where reading the folder takes ~150 ms).
    The city map is shared, not copied: its prepared geometries cannot be pickled and nothing changes it."""

    def __init__(self, profile):
        import io
        import pickle

        self._shared = {id(profile.city_map): profile.city_map}
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = lambda obj: id(obj) if id(obj) in self._shared else None
        pickler.dump(profile)
        self._data = buffer.getvalue()

    def copy(self):
        import io
        import pickle

        unpickler = pickle.Unpickler(io.BytesIO(self._data))
        unpickler.persistent_load = self._shared.__getitem__
        return unpickler.load()


@pytest.fixture(scope="session")
def _deployment_templates(tmp_path_factory):
    templates = _Templates(tmp_path_factory.mktemp("template"))
    yield templates
    templates.close()


def _deployment_on_copy(templates: _Templates, url: str, city: str = "kansas-city", staff: bool = False):
    """What ``init_deployment(url, city)`` gives on an empty database at ``url``, made by copying the template.

    The copy is already at the head with the profile synced (the template went through
    ``init_deployment``), so this only assembles the deployment as ``init_deployment`` does: the profile
    as its folder gives it, the city's plugins, then the configuration stored in the database."""
    import shutil

    from sqlalchemy.engine import make_url

    from civiccrm import plugins
    from civiccrm.services import config_changes
    from civiccrm.services.deployment import Deployment
    from civiccrm.store.db import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(parsed.database)
        assert not target.exists(), f"{target} exists: the template copy would overwrite it"
        shutil.copyfile(templates.sqlite(city, staff), target)
    else:
        create_postgres_database(parsed.database, template=templates.postgresql(city, staff))
    profile = templates.profile(city)
    deployment = Deployment(engine=make_engine(url), profile=profile, pm=plugins.for_city(profile))
    config_changes.load_stored_config(deployment)
    return deployment


@pytest.fixture
def deployment(request, database_url, _deployment_templates):
    """A Kansas City deployment on a fresh database (SQLite and PostgreSQL) at ``database_url``;
    when the test uses ``staffed`` too, a copy of the template that already holds its staff users."""
    dep = _deployment_on_copy(_deployment_templates, database_url, staff="staffed" in request.fixturenames)
    yield dep
    dep.engine.dispose()


@pytest.fixture(scope="session")
def fixed_sla_folder(tmp_path_factory):
    """The test profile's folder (tests/profile_helpers.py fixed_sla_profile), copied once; tests only read it."""
    from profile_helpers import fixed_sla_profile

    return fixed_sla_profile(tmp_path_factory.mktemp("fixed-sla"))


@pytest.fixture
def fixed_sla_deployment(database_url, fixed_sla_folder, _deployment_templates):
    """A Kansas City deployment whose time-frames are the test's own (tests/profile_helpers.py
    FIXED_SLA_POLICIES: abandoned vehicle 5 calendar days on the action-center calendar, ...), for
    tests of the SLA engine's mechanics that must not move when the city's time-frames are refitted."""
    dep = _deployment_on_copy(_deployment_templates, database_url, str(fixed_sla_folder))
    yield dep
    dep.engine.dispose()


@pytest.fixture
def sqlite_deployment(tmp_path, _deployment_templates):
    """A Kansas City deployment on SQLite only, for tests that need no second backend."""
    dep = _deployment_on_copy(_deployment_templates, f"sqlite:///{tmp_path / 'civiccrm.db'}")
    yield dep
    dep.engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Staff passwords stay argon2id in tests, with parameters cheap enough for a shared 2-core machine."""
    from civiccrm.services import users

    users.set_hasher_parameters(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def staffed(deployment):
    """The deployment with one staff user of every role (tests/web_helpers.py STAFF, ``add_staff``):
    ``deployment`` copied them from its template."""
    return deployment


class _SharedTemplateCode:
    """Jinja's bytecode cache, in memory, for every Flask app a test process makes. Each test makes its
    own app and each app's Jinja environment compiled every template it rendered again (0.1-0.2 s for a
    page and its layout: most of a test's first request); with this the code is compiled once a process.
    Jinja checks the template source's checksum, and the key holds every setting that changes the code
    it compiles, so an app made otherwise, or a template changed on disk, compiles its own."""

    def __init__(self):
        import jinja2

        class Cache(jinja2.BytecodeCache):
            def load_bytecode(cache, bucket):
                code = self.code.get((self.settings(bucket.environment), bucket.key))
                if code is not None:
                    bucket.bytecode_from_string(code)

            def dump_bytecode(cache, bucket):
                self.code[self.settings(bucket.environment), bucket.key] = bucket.bytecode_to_string()

        self.code: dict[tuple, bytes] = {}
        self.cache = Cache()

    @staticmethod
    def settings(environment) -> tuple:
        autoescape = environment.autoescape
        return (environment.block_start_string, environment.block_end_string, environment.variable_start_string,
                environment.variable_end_string, environment.comment_start_string, environment.comment_end_string,
                environment.line_statement_prefix, environment.line_comment_prefix, environment.trim_blocks,
                environment.lstrip_blocks, environment.newline_sequence, environment.keep_trailing_newline,
                environment.optimized, tuple(sorted(environment.extensions)),
                getattr(environment, "newstyle_gettext", None),
                autoescape if isinstance(autoescape, bool) else getattr(autoescape, "__qualname__", repr(autoescape)))


@pytest.fixture(autouse=True, scope="session")
def _templates_compiled_once():
    import flask

    before = flask.Flask.jinja_options
    flask.Flask.jinja_options = {**before, "bytecode_cache": _SharedTemplateCode().cache}
    yield
    flask.Flask.jinja_options = before
