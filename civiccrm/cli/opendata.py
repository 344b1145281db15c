"""Open data in and out: `import csv --mapping NAME`, `profile draft`, `export cases`."""

import click

from civiccrm.cli.imports import _make_command, import_group


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
