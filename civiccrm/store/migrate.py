"""Run the Alembic migrations from Python (``civiccrm db upgrade``)."""

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column, table
from sqlalchemy.engine import Engine


def _config(connection) -> Config:
    config = Config(str(files("civiccrm") / "store" / "alembic.ini"))
    config.set_main_option("script_location", str(files("civiccrm") / "store" / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to ``revision``, by default the head of the one linear history."""
    with engine.begin() as connection:
        config = _config(connection)
        _join_branches(connection, ScriptDirectory.from_config(config))
        command.upgrade(config, revision)


def _join_branches(connection, script: ScriptDirectory) -> None:
    """A database migrated while the history had branches records several heads (0005, 0006,
    0007); now that those revisions are one line, keep only the latest of them."""
    context = MigrationContext.configure(connection)
    stored = set(context.get_current_heads())
    if len(stored) < 2:
        return
    order = [r.revision for r in script.walk_revisions()]  # from the head down
    latest = next(r for r in order if r in stored)
    versions = table("alembic_version", column("version_num"))
    connection.execute(versions.delete().where(versions.c.version_num.in_(sorted(stored - {latest}))))


def history() -> ScriptDirectory:
    """The migrations shipped with the code."""
    return ScriptDirectory.from_config(_config(None))


def current(engine: Engine) -> str | None:
    """The applied revision(s), comma-separated, or None for an empty database."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None
