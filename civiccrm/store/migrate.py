"""Run the Alembic migrations from Python (``civiccrm db upgrade``)."""

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def _config(connection) -> Config:
    config = Config(str(files("civiccrm") / "store" / "alembic.ini"))
    config.set_main_option("script_location", str(files("civiccrm") / "store" / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Upgrade to ``revision``; by default every head (features add migrations on branches of 0001)."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def current(engine: Engine) -> str | None:
    """The applied revision(s), comma-separated, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None
