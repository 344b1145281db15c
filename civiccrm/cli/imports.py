"""`civiccrm import FORMAT FILE...`: bulk importers registered by plugins."""

import csv
import sys

import click

from civiccrm import plugins
from civiccrm.cli import CivicGroup, Obj, cli, emit_json, json_option, pass_obj
from civiccrm.errors import CivicError

MAX_SHOWN = 50
"""Rejected rows printed on stderr; the rest are counted (``--errors FILE`` keeps them all)."""


class _Rejects:
    """Prints the first rejects on stderr and writes every one to ``--errors`` if given."""

    def __init__(self, errors_path, quiet: bool):
        self.lines: list[str] = []  # printed once the progress bar is gone
        self.shown = 0
        self.hidden = 0
        self.quiet = quiet
        self._file = open(errors_path, "w", newline="", encoding="utf-8") if errors_path else None
        self._writer = None
        if self._file is not None:
            self._writer = csv.writer(self._file)
            self._writer.writerow(["file", "line", "reason"])

    def __call__(self, reject) -> None:
        if self._writer is not None:
            self._writer.writerow([reject.file, "" if reject.line is None else reject.line, reject.reason])
        if reject.whole_file:  # a skipped file is always said
            self.lines.append(str(reject))
        elif self.shown < MAX_SHOWN and not self.quiet:
            self.shown += 1
            self.lines.append(str(reject))
        else:
            self.hidden += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _file_size(path) -> int:
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _make_command(name: str, importer) -> click.Command:
    @click.command(name=name, help=importer.help or f"Import {name} files.")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
    @click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1),
                  help="Rows per transaction.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar and no list of rejected rows.")
    @click.option("--errors", "errors_path", type=click.Path(dir_okay=False, writable=True),
                  help="Write every rejected row (file, line, reason) to this CSV file.")
    @json_option
    @pass_obj
    def command(obj, files, batch_size, quiet, errors_path, as_json):
        deployment = obj.deployment
        rejects = _Rejects(errors_path, quiet)
        show_bar = not quiet and sys.stderr.isatty()
        try:
            if show_bar:
                total = sum(_file_size(f) for f in files)
                with click.progressbar(length=total, label=f"importing {len(files)} file(s)", file=sys.stderr,
                                       show_pos=False, show_percent=True, show_eta=True) as bar:
                    summary = importer.run(deployment, list(files), batch_size=batch_size, actor=obj.actor,
                                           on_error=rejects, progress=bar.update)
            else:
                summary = importer.run(deployment, list(files), batch_size=batch_size, actor=obj.actor,
                                       on_error=rejects)
        finally:
            rejects.close()
            for line in rejects.lines:
                click.echo(line, err=True)
        if rejects.hidden:
            more = f"{rejects.hidden} more rejected row(s) not shown"
            hint = f" (all are in {errors_path})" if errors_path else " (--errors FILE writes them all)"
            click.echo(more + hint, err=True)
        if as_json:
            emit_json(summary.as_dict())
        else:
            click.echo(summary.line())
            if summary.files_skipped:
                click.echo(f"files: {summary.files_read} read, {summary.files_skipped} skipped")
            for kind, count in sorted(summary.warnings.items()):
                examples = summary.warning_examples.get(kind) or []
                shown = f" ({', '.join(map(str, examples))}{', ...' if count > len(examples) else ''})" if examples else ""
                click.echo(f"warning: {kind}: {count} row(s){shown}")
            if summary.hook_failures:
                click.echo(f"warning: {summary.hook_failures} plugin failure(s) after import; see the cases' history")
        if summary.read == 0:
            if not as_json:
                click.echo("nothing could be read", err=True)
            click.get_current_context().exit(1)

    return command


class ImportGroup(CivicGroup):
    """Subcommands come from the importers the deployment's plugins register (looked up when
    needed), a city's own importer included. Help without a database lists those every city has."""

    def list_commands(self, ctx):
        try:
            importers = ctx.find_object(Obj).deployment.registry.importers
        except CivicError:
            importers = plugins.importers()
        return sorted(set(importers) | set(self.commands))

    def get_command(self, ctx, name):
        if name in self.commands:  # built in (e.g. `import csv --mapping NAME`)
            return self.commands[name]
        importer = ctx.find_object(Obj).deployment.registry.importers.get(name)
        return _make_command(name, importer) if importer is not None else None


@cli.group("import", cls=ImportGroup)
def import_group():
    """Import case history from another system's files (formats come from plugins)."""
