"""`civiccrm import kcmo`: Kansas City's open-data 311 export, read through the ``kcmo`` mapping.

The format is one mapping file, ``cities/kansas_city/mappings/kcmo.toml``, run by the same
engine as ``civiccrm import csv --mapping kcmo`` (``civiccrm.services.csv_import``): the
columns, the SOURCE and STATUS codes, the date formats and the timezone are said there.
This city plugin keeps the command's name and says the one thing a mapping cannot: the
summary calls a channel code it does not know by the column's own name (``unknown
source``, as Kansas City's staff know it). ``docs/import-kcmo.md`` describes the rules.
"""

from civiccrm import hookimpl
from civiccrm.registries import Importer

NAME = "kcmo"
"""The command name and the mapping's (``mappings/kcmo.toml`` of the city profile)."""

WARNING_NAMES = {"unknown channel": "unknown source"}
"""The engine's warning -> what the summary of a Kansas City import calls it."""


def run(deployment, files, **options):
    """Import Kansas City export files (``options`` as for ``csv_import.run``)."""
    from civiccrm.services import csv_import

    summary = csv_import.run(deployment, files, mapping=NAME, **options)
    for generic, named in WARNING_NAMES.items():
        if generic in summary.warnings:
            summary.warnings[named] = summary.warnings.pop(generic)
        if generic in summary.warning_examples:
            summary.warning_examples[named] = summary.warning_examples.pop(generic)
    return summary


@hookimpl
def register_importers(register):
    register(Importer(name=NAME, run=run, help="Kansas City open-data 311 service requests (CSV export of data.kcmo.org)."))
