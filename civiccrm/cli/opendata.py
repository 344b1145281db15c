"""Open data in and out: `import csv --mapping NAME`, `profile draft`, `export cases`."""

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.imports import _make_command, import_group
from civiccrm.cli.params import inclusive_range


class _MappedImporter:
    """The importer behind `import csv`: the mapping is chosen on the command line."""

    help = ("Import any city's CSV export through a mapping (the profile's mappings/NAME.toml, "
            "a shipped mapping such as nyc-311, or a path to a .toml file).")

    def __init__(self):
        self.mapping = None

    def run(self, deployment, files, **kwargs):
        from civiccrm.services import csv_import

        return csv_import.run(deployment, files, mapping=self.mapping, **kwargs)


def _csv_command() -> click.Command:
    importer = _MappedImporter()
    command = _make_command("csv", importer)
    inner = command.callback

    def callback(mapping, **kwargs):
        importer.mapping = mapping
        return inner(**kwargs)

    command.callback = callback
    command.params.insert(1, click.Option(["--mapping"], required=True, metavar="NAME",
                                          help="Mapping of the export's columns (docs/import-mapping.md)."))
    return command


import_group.add_command(_csv_command())


@cli.group("export", cls=CivicGroup)
def export_group():
    """Publish the city's cases as open data (never a name, e-mail, phone, note or photo)."""


@export_group.command("cases")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "geojson", "parquet", "open311-bulk"]),
              help="csv (Socrata-style flat), geojson (RFC 7946), parquet (typed), open311-bulk (GeoReport bulk draft).")
@click.option("--from", "date_from", metavar="DATE", help="First day cases were opened, YYYY-MM-DD in city time.")
@click.option("--to", "date_to", metavar="DATE", help="Last day cases were opened, inclusive.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only this service type (code or name); repeatable.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="File to write.")
@json_option
@pass_obj
def export_cases_command(obj, fmt, date_from, date_to, types, out, as_json):
    """Write cases to FILE, with its data dictionary beside it (FILE.dictionary.csv)."""
    from civiccrm.services.export import export_cases

    deployment = obj.deployment
    start, end = inclusive_range(date_from, date_to, deployment.profile.tz)
    summary = export_cases(deployment, fmt=fmt, out=out, start=start, end=end, types=types)
    if as_json:
        emit_json({"cases": summary.cases, "file": summary.file, "dictionary": summary.dictionary, "format": fmt})
    else:
        click.echo(f"wrote {summary.cases} case(s) to {summary.file} ({fmt}); data dictionary: {summary.dictionary}")
