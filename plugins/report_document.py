"""A report pack's document (sections of tables, charts and notes) and its formats: HTML, PDF, CSV, JSON, ZIP.

A pack builds a ``Document`` from figures computed in ``civiccrm.metrics``; this module lays it
out the same way for every pack:

- ``html``: one self-contained page from a Jinja2 template, each chart inline as SVG with its
  data table under it, every figure's definition at the end;
- ``pdf``: that page laid out by WeasyPrint for print (A4 or Letter, the city's name and the
  period at the top of every page, "page N of M" at the foot);
- ``csv``: every table one after the other, each headed by its name, a blank line between;
- ``zip``: one CSV per table, and one SVG and one PNG per chart;
- ``json``: the pack's own data (figures, definitions, flags).

Charts come from ``report_charts`` (matplotlib, deterministic), so the same figures give the
same bytes in every format.
"""

import base64
import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import date, datetime

import attrs
import jinja2
import markupsafe

from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import Metric
from civiccrm.metrics.kcstat import Share

PAPER_SIZES = ("A4", "Letter")
ZIP_TIME = (2000, 1, 1, 0, 0, 0)
"""Every member of a ZIP carries this time, so the same figures give the same archive."""


@attrs.frozen
class Column:
    name: str
    """Key in CSV headers."""
    label: str
    """Heading in HTML and PDF."""
    kind: str = "text"
    """text, int, days, money, share (a Share: value, n and a low-sample flag), pct (a float share), delta (a change)."""


@attrs.frozen
class Table:
    name: str
    """File name of its CSV (``tables/NAME.csv`` in the ZIP); unique in the document."""
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple, ...]
    total: tuple | None = None
    """An optional last row shown in bold (the totals)."""
    note: str = ""


@attrs.frozen
class Chart:
    name: str
    title: str
    svg: str
    """The chart as SVG text (no XML declaration), inlined into the HTML."""
    png: Callable[[], bytes] = attrs.field(eq=False, repr=False)
    """Draws the same chart as PNG when the ZIP asks for it."""
    table: Table
    """The data the chart draws, shown under it."""
    alt: str = ""


@attrs.frozen
class Section:
    title: str
    intro: str = ""
    blocks: tuple = ()
    """Tables and charts, in order."""
    missing: str | None = None
    """Why the section has no figures for this city (e.g. "no survey configured"); shown instead of them."""


@attrs.frozen
class Document:
    pack: str
    title: str
    city: str
    period_label: str
    sections: tuple[Section, ...]
    definitions: tuple[Metric, ...]
    data: dict
    """What the JSON format writes."""
    paper: str = "Letter"
    min_sample: int = 30

    def tables(self) -> list[Table]:
        found = []
        for section in self.sections:
            for block in section.blocks:
                found.append(block.table if isinstance(block, Chart) else block)
        return found

    def charts(self) -> list[Chart]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Chart)]


# --- cells ------------------------------------------------------------------------------------


def _fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "share":
        if value.value is None:
            return "-"
        flag = " †" if value.low_sample else ""
        return f"{value.value:.1%} ({value.numerator}/{value.denominator}){flag}"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "days":
        return f"{value:.1f}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "delta":
        return f"{value:+.1%}" if isinstance(value, float) else f"{value:+d}"
    if kind == "int":
        return f"{value:,}"
    return str(value)


def _csv_header(columns) -> list[str]:
    header = []
    for column in columns:
        header.append(column.name)
        if column.kind == "share":
            header += [f"{column.name}_n", f"{column.name}_low_sample"]
    return header


def _csv_cells(row, columns) -> list[str]:
    cells = []
    for value, column in zip(row, columns):
        if column.kind == "share":
            share: Share | None = value
            if share is None:
                cells += ["", "", ""]
            else:
                cells += ["" if share.value is None else f"{share.value:.4f}", str(share.denominator),
                          "1" if share.low_sample else "0"]
        elif value is None:
            cells.append("")
        elif isinstance(value, float):
            cells.append(f"{value:.4f}")
        else:
            cells.append(str(value))
    return cells


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_csv_header(table.columns))
    for row in (*table.rows, *((table.total,) if table.total else ())):
        writer.writerow(_csv_cells(row, table.columns))
    return out.getvalue()


def css_string(text: str) -> markupsafe.Markup:
    """``text`` as a quoted CSS string, safe inside a <style> element (where HTML escapes are not read)."""
    escaped = "".join(c if c.isalnum() or c in " ,.-:()/" else f"\\{ord(c):x} " for c in str(text))
    return markupsafe.Markup(f'"{escaped}"')


# --- formats ----------------------------------------------------------------------------------

_env = jinja2.Environment(loader=jinja2.PackageLoader("civiccrm_plugins", "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
_env.filters["cell"] = _fmt
_env.filters["css"] = css_string
_env.filters["data_uri"] = lambda svg: "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
_env.tests["chart"] = lambda block: isinstance(block, Chart)


def to_html(document: Document, *, for_print: bool = False) -> str:
    return _env.get_template("report.html").render(doc=document, for_print=for_print,
                                                   paper=document.paper)


def to_pdf(document: Document) -> bytes:
    """The HTML laid out for print by WeasyPrint; no creation date, so the same figures give the same file."""
    import weasyprint

    html = weasyprint.HTML(string=to_html(document, for_print=True))
    return html.write_pdf(pdf_identifier=document.pack.encode("ascii"))


def to_csv(document: Document) -> str:
    parts = []
    for table in document.tables():
        parts.append(f"# {table.name}: {table.title}\n{table_csv(table)}")
    return "\n".join(parts)


def to_zip(document: Document) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, content: bytes):
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), content, compress_type=zipfile.ZIP_DEFLATED)

        for table in document.tables():
            add(f"tables/{table.name}.csv", table_csv(table).encode("utf-8"))
        for chart in document.charts():
            add(f"charts/{chart.name}.svg", chart.svg.encode("utf-8"))
            add(f"charts/{chart.name}.png", chart.png())
        add("report.json", to_json(document).encode("utf-8"))
    return buffer.getvalue()


def _json_default(value):
    if isinstance(value, Share):
        return value.to_dict()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def _table_json(table: Table) -> dict:
    def row(values):
        return {column.name: value for column, value in zip(table.columns, values)}

    return {"title": table.title, "rows": [row(r) for r in table.rows],
            "total": row(table.total) if table.total else None, "note": table.note or None}


def to_json(document: Document) -> str:
    """The pack's data, then every table by name (shares as numerator, denominator, value, low_sample)."""
    data = {"pack": document.pack, "city": document.city, "period": document.period_label, **document.data,
            "min_sample": document.min_sample,
            "missing": {s.title: s.missing for s in document.sections if s.missing},
            "tables": {t.name: _table_json(t) for t in document.tables()},
            "charts": [c.name for c in document.charts()],
            "definitions": [m.to_dict() for m in document.definitions]}
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def pack_settings(deployment, table_name: str, defaults: dict) -> tuple[dict, dict, str]:
    """``[plugins.<table_name>]``: (the table as written, the defaults overlaid by it, its name for messages).

    Unknown keys are refused; checking each value is the pack's own business."""
    table = deployment.profile.settings.get("plugins", {}).get(table_name, {})
    where = f"plugins.{table_name}"
    unknown = sorted(set(table) - set(defaults))
    if unknown:
        raise CivicError(f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(defaults)}")
    return table, {**defaults, **table}, where


def survey_pack_settings(deployment, table_name: str, defaults: dict) -> tuple[dict, str, dict]:
    """``pack_settings`` for a survey pack: ``min_sample`` and ``paper`` checked, an ``instrument``
    given in the table checked against the profile's surveys; (settings, name for messages, the
    profile's surveys by code)."""
    from civiccrm.services.surveys.instruments import instruments

    table, found, where = pack_settings(deployment, table_name, defaults)
    n = found["min_sample"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CivicError(f"{where}.min_sample: {n!r} is not a whole number of 1 or more")
    check_paper(where, found["paper"])
    known = instruments(deployment)
    if table.get("instrument") is not None and found["instrument"] not in known:
        raise CivicError(f"{where}.instrument: no survey {found['instrument']!r} in {deployment.profile.name}; "
                         f"known: {', '.join(sorted(known)) or 'none'}")
    return found, where, known


def document_frame(deployment, pack: str, config: dict, definitions, *, start: datetime, end: datetime):
    """(the period, its label, the Document fields every pack fills the same way) for ``[start, end)``."""
    from civiccrm.metrics.kcstat import Period

    profile = deployment.profile
    period = Period(start, end, profile.tz)
    label = f"{period.first_day} to {period.last_day}"
    return period, label, {"pack": pack, "city": profile.name, "period_label": label, "definitions": definitions,
                           "paper": config["paper"], "min_sample": config["min_sample"]}


def check_paper(where: str, paper) -> str:
    if paper not in PAPER_SIZES:
        raise CivicError(f"{where}.paper: {paper!r}; expected one of {', '.join(PAPER_SIZES)}")
    return paper


def document_pack(name: str, build: Callable[..., Document], description: str):
    """A ReportPack rendering ``build(deployment, start=, end=)`` in every format of this module."""
    from civiccrm.registries import Rendered, ReportPack

    def render(deployment, *, start: datetime, end: datetime, format: str) -> Rendered:
        content, media_type = render_document(build(deployment, start=start, end=end), format)
        return Rendered(content, media_type)

    return ReportPack(name, render, description=description, formats=FORMATS)


FORMATS = ("html", "pdf", "csv", "json", "zip")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
               "json": "application/json; charset=utf-8", "zip": "application/zip"}


def render_document(document: Document, format: str) -> tuple[bytes, str]:
    """The document in ``format`` (one of FORMATS): (content, media type)."""
    if format == "html":
        content = to_html(document).encode("utf-8")
    elif format == "pdf":
        content = to_pdf(document)
    elif format == "csv":
        content = to_csv(document).encode("utf-8")
    elif format == "json":
        content = to_json(document).encode("utf-8")
    elif format == "zip":
        content = to_zip(document)
    else:
        raise AssertionError(format)
    return content, MEDIA_TYPES[format]
