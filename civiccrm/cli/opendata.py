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
              help="csv (Socrata-style flat), geojson (RFC 7946), parquet (typed), "
                   "open311-bulk (GeoReport bulk draft).")
@click.option("--from", "date_from", metavar="DATE", help="First day cases were opened, YYYY-MM-DD in city time.")
@click.option("--to", "date_to", metavar="DATE", help="Last day cases were opened, inclusive.")
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="Only this service type (code or name); repeatable.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="File to write.")
@json_option
@pass_obj
def export_cases_command(obj, fmt, date_from, date_to, types, out, as_json):
    """Write cases to FILE, with its data dictionary beside it (FILE.dictionary.csv)."""
    from civiccrm.services.export import export_cases

    deployment = obj.reading
    start, end = inclusive_range(date_from, date_to, deployment.profile.tz)
    summary = export_cases(deployment, fmt=fmt, out=out, start=start, end=end, types=types)
    if as_json:
        emit_json({"cases": summary.cases, "file": summary.file, "dictionary": summary.dictionary, "format": fmt})
    else:
        click.echo(f"wrote {summary.cases} case(s) to {summary.file} ({fmt}); data dictionary: {summary.dictionary}")


@cli.group("profile", cls=CivicGroup)
def profile_group():
    """Write or check city profiles."""


@profile_group.command("draft")
@click.option("--from-export", "first", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The city's export (CSV); further files may follow it: --from-export FILE...")
@click.argument("more", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", required=True, metavar="NAME",
              help="Mapping of the export's columns (docs/import-mapping.md).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New folder for the draft profile.")
@click.option("--slug", help="The city's slug (default: the folder's name).")
@click.option("--name", help="The city's name (default: from the folder's name).")
@click.option("--timezone", "timezone_name", help="The city's IANA timezone (default: the mapping's, else UTC).")
@json_option
def profile_draft_command(first, more, mapping, out, slug, name, timezone_name, as_json):
    """Draft a profile (departments, work groups, taxonomy, time-frames) from a city's own export."""
    from civiccrm.services.profile_draft import draft_profile

    files = [first, *more]
    figures = draft_profile(files, mapping=mapping, out=out, slug=slug, name=name, timezone_name=timezone_name)
    if as_json:
        emit_json({"out": out, "rows": figures["rows"], "rejected": figures["rejected"],
                   "service_types": figures["types"], "by_method": figures["by_method"]})
        return
    for line in figures["method_lines"]:
        click.echo(line)
    click.echo(f"draft written to {out}; check {out}/DRAFT-REPORT.md, then `civiccrm init --city {out}`")
