"""The ``civiccrm`` command line: a click group that plugins can add commands to."""

import json
import logging
import sys
from datetime import date, datetime

import click

from civiccrm import plugins
from civiccrm.errors import CivicError


class CivicGroup(click.Group):
    """A group that prints CivicError as one line on stderr and exits 1, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CivicError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            # The database cannot be reached or is locked. SQLAlchemy is looked up only here: a command
            # that never touched the database (``civiccrm cities``, ``--help``) never imports it.
            sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
            if sqlalchemy_exc is None or not isinstance(exc, sqlalchemy_exc.OperationalError):
                raise
            reason = str(exc.orig or exc).strip().splitlines()
            raise click.ClickException(f"database error: {reason[0] if reason else type(exc).__name__}") from None


class PluginGroup(CivicGroup):
    """The top-level group: asks the plugins for their commands when commands are listed."""

    _plugin_commands_added = False

    def _add_plugin_commands(self):
        if not self._plugin_commands_added:
            self._plugin_commands_added = True
            plugins.load_plugins().hook.register_commands(cli=self)

    def list_commands(self, ctx):
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._add_plugin_commands()
        return super().get_command(ctx, name)


class OneLine(logging.Handler):
    """Prints a warning or error logged under ``civiccrm`` as one line on stderr, without its traceback.

    A failing plugin is logged with its traceback (for a log file or a test); at the command
    line the person reads what failed and that it was recorded, in one line."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if exc is not None and type(exc).__name__ not in message:
            message += f" ({type(exc).__name__}: {exc})"
        click.echo(f"{record.levelname.lower()}: {message}", err=True)


_one_line = OneLine()


def _log_in_one_line() -> None:
    logger = logging.getLogger("civiccrm")
    if _one_line not in logger.handlers:
        logger.addHandler(_one_line)


class Obj:
    """What every command gets: the database URL and who is acting."""

    def __init__(self, db: str | None, actor: str, read_db: str | None = None):
        self.db = db
        self.actor = actor
        self.read_db = read_db
        self._deployment = None
        self._reading = None

    @property
    def deployment(self):
        if self._deployment is None:
            from civiccrm.services.deployment import open_deployment

            self._deployment = open_deployment(self.db)
        return self._deployment

    @property
    def reading(self):
        """The deployment reports and exports read: on --read-db (a streaming replica) when given, which
        holds the same profile and settings as the primary; otherwise the primary itself."""
        if not self.read_db:
            return self.deployment
        if self._reading is None:
            from civiccrm.services.deployment import open_deployment

            self._reading = open_deployment(self.read_db)
        return self._reading


pass_obj = click.make_pass_decorator(Obj)


def emit_json(data) -> None:
    """Print ``data`` as JSON (datetimes as ISO 8601 with offset)."""

    def default(value):
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        if hasattr(value, "value"):
            return value.value
        raise TypeError(f"cannot serialise {type(value).__name__}")

    click.echo(json.dumps(data, indent=2, default=default, ensure_ascii=False))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.group(cls=PluginGroup)
@click.version_option(package_name="civiccrm")
@click.option("--db", envvar="CIVICCRM_DATABASE_URL", metavar="URL",
              help="Database URL (default sqlite:///civiccrm.db; env CIVICCRM_DATABASE_URL).")
@click.option("--read-db", envvar="CIVICCRM_READ_DATABASE_URL", metavar="URL",
              help="A read-only copy (a streaming replica) that reports and exports read instead of --db "
                   "(env CIVICCRM_READ_DATABASE_URL); every write still goes to --db.")
@click.option("--actor", default="cli", show_default=True, envvar="CIVICCRM_ACTOR",
              help="Who is making changes, recorded on each history event.")
@click.pass_context
def cli(ctx, db, read_db, actor):
    """CivicCRM: cases, SLAs, surveys and metrics for a city's 311 centre."""
    _log_in_one_line()
    ctx.obj = Obj(db, actor, read_db)


def main(argv=None):
    return cli.main(args=argv, prog_name="civiccrm")


from civiccrm.cli import admin, apikeys, cases, imports, outbox, reports, serve, sla, surveys, users  # noqa: E402,F401  (register commands)
from civiccrm.cli import duplicates, integrations  # noqa: E402,F401  (case duplicates, duplicates evaluate, integrations)
from civiccrm.cli import audit, backup, privacy  # noqa: E402,F401  (audit chain, db backup/restore, personal data)
from civiccrm.cli import opendata  # noqa: E402,F401  (import csv, export cases, profile draft)
from civiccrm.cli import calls  # noqa: E402,F401  (the call-centre commands)

if __name__ == "__main__":
    sys.exit(main())
