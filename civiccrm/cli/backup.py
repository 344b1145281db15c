"""`civiccrm db backup | restore`: a consistent copy of the whole database while it is in use."""

from pathlib import Path

import click

from civiccrm.cli import pass_obj
from civiccrm.cli.admin import db


@db.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write (never overwritten).")
@pass_obj
def backup(obj, out):
    """Back the database up while writes go on (SQLite online backup; pg_dump on PostgreSQL)."""
    from civiccrm.store import backup as backups

    kind = backups.backup(obj.db, out)
    click.echo(f"backed up to {out} ({kind}, {out.stat().st_size:,} bytes)")


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_obj
def restore(obj, file):
    """Restore a backup into an empty database (--db names it)."""
    from civiccrm.store import backup as backups

    backups.restore(obj.db, file)
    click.echo(f"restored {file}")
