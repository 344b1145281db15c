"""`civiccrm report ...`: figures for a period."""

import textwrap
from datetime import date, timedelta

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.params import inclusive_range, parse_date, period_options
from civiccrm.errors import CivicError
from civiccrm.metrics.definitions import format_days, format_share

DEFAULT_DAYS = 30
"""Without --from/--to a report covers the last 30 days, today included (city time)."""

_BY_HEADINGS = {None: "cases", "department": "department", "work-group": "work group", "channel": "channel",
                "district": "council district", "type": "request type"}


@cli.group(cls=CivicGroup)
def report():
    """Figures for a period: the summary, and the report packs plugins provide."""


def period_dates(date_from: str | None, date_to: str | None, today: date) -> tuple[str, str]:
    """The --from/--to dates as given, with the defaults filled in.

    --to defaults to today and --from to 29 days before --to (30 days, both inclusive);
    given only --from, --to is today.
    """
    if date_to is None:
        if date_from is not None and parse_date(date_from, "--from") > today:
            raise CivicError(f"--from: {date_from} is after today ({today}); give --to as well")
        date_to = today.isoformat()
    if date_from is None:
        date_from = (parse_date(date_to, "--to") - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    return date_from, date_to


@report.command("summary")
@click.option("--from", "date_from", metavar="DATE",
              help=f"First day of the period, YYYY-MM-DD in city time (default: {DEFAULT_DAYS - 1} days before --to).")
@click.option("--to", "date_to", metavar="DATE", help="Last day of the period, inclusive (default: today, city time).")
@click.option("--month", metavar="YYYY-MM", help="The whole of one month instead of --from/--to.")
@click.option("--fiscal-year", type=int, metavar="YEAR",
              help="One fiscal year (named by the year it ends in; the profile sets its start).")
@click.option("--by", metavar="GROUPING", help="Group by department, work-group, channel, district or type.")
@json_option
@pass_obj
def report_summary(obj, date_from, date_to, month, fiscal_year, by, as_json):
    """Opened, closed, backlog, days to close, on-time shares and channel mix for a period.

    Dates are local to the city and both inclusive. Each figure's definition is printed
    with it; see docs/metrics.md.
    """
    from civiccrm.metrics.summary import normalise_by, summary

    by = normalise_by(by)
    deployment = obj.reading
    profile = deployment.profile
    tz = profile.tz
    now = deployment.clock()
    date_from, date_to = period_options(date_from, date_to, month, fiscal_year, profile.fiscal_year_start)
    date_from, date_to = period_dates(date_from, date_to, now.astimezone(tz).date())
    start, end = inclusive_range(date_from, date_to, tz)
    result = summary(deployment.engine, start=start, end=end, by=by, now=now)
    first, last = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if as_json:
        data = result.to_dict()
        data.update(start=start.astimezone(tz), end=end.astimezone(tz), backlog_as_of=result.backlog_as_of.astimezone(tz))
        emit_json({"city": profile.name, "timezone": profile.timezone,
                   "period": {"from": first, "to": last}, **data})
        return
    click.echo(render_text(result, city=profile.name, tz=tz, first=first, last=last))


def _table(header: list[str], rows: list[list[str]], *, left: int = 1) -> list[str]:
    """Rows as aligned text: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(result, *, city: str, tz, first: date, last: date) -> str:
    from civiccrm.metrics import definitions as d

    out = [f"{city} — {first} to {last} ({tz.key})"]
    as_of = result.backlog_as_of.astimezone(tz)
    out.append(f"{'by ' + _BY_HEADINGS[result.by] + '; ' if result.by else ''}"
               f"backlog as of {as_of:%Y-%m-%d %H:%M %Z}")
    out.append("")
    rows = list(result.groups)
    if result.by:
        rows.append(result.total)
    header = [_BY_HEADINGS[result.by], d.OPENED.label, d.CLOSED.label, d.BACKLOG.label, d.MEDIAN_DAYS.label,
              d.P90_DAYS.label, d.SHARE_ON_TIME.label, d.SHARE_ON_TIME_CITY.label]
    body = [[_clip(g.label), str(g.opened), str(g.closed), str(g.backlog), format_days(g.median_days),
             format_days(g.p90_days), format_share(g.on_time, g.on_time_known), format_share(g.city_on_time, g.city_on_time_known)]
            for g in rows]
    out += _table(header, body)

    out += ["", "Channel mix (cases opened)"]
    channels = [ch for ch, _ in result.total.channels]
    if channels:
        mix_rows = []
        for g in rows:
            counts = dict(g.channels)
            mix_rows.append([_clip(g.label)] + [
                f"{counts[ch]} ({counts[ch] / g.opened:.0%})" if counts.get(ch) else "-" for ch in channels
            ])
        out += _table([_BY_HEADINGS[result.by], *channels], mix_rows)
    else:
        out.append("no cases opened in the period")

    out += ["", "Definitions"]
    for metric in result.definitions:
        out += textwrap.wrap(metric.definition, width=100, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(out)


@report.command("packs")
@json_option
@pass_obj
def report_packs(obj, as_json):
    """List the report packs plugins provide, their formats, and whether this city enables them.

    A city enables packs with `[city] report_packs = [...]` in its profile; without that
    list every registered pack may be rendered.
    """
    deployment = obj.reading
    profile = deployment.profile
    packs = deployment.registry.report_packs
    rows = [{"name": p.name, "description": p.description, "formats": list(p.formats),
             "enabled": p.enabled_for(profile)} for p in sorted(packs.values(), key=lambda p: p.name)]
    missing = [name for name in profile.report_packs if name not in packs]
    if as_json:
        emit_json({"city": profile.name, "packs": rows, "enabled_but_not_registered": missing})
        return
    if not rows:
        click.echo("no report packs registered")
    for row in rows:
        state = "enabled" if row["enabled"] else f"not enabled for {profile.name}"
        click.echo(f"{row['name']}  [{', '.join(row['formats'])}; {state}]")
        if row["description"]:
            click.echo(f"    {row['description']}")
    if missing:
        click.echo(f"the profile enables packs no plugin registers: {', '.join(missing)}")


def _pack_period(command, deployment, date_from, date_to, month, fiscal_year):
    """The [start, end) instants of a pack's period from --from/--to, --month or --fiscal-year."""
    date_from, date_to = period_options(date_from, date_to, month, fiscal_year, deployment.profile.fiscal_year_start)
    if not (date_from and date_to):
        raise CivicError(f"{command}: give the period with --from and --to, --month or --fiscal-year")
    return inclusive_range(date_from, date_to, deployment.profile.tz)


@report.command("render")
@click.argument("name")
@click.option("--from", "date_from", metavar="DATE", help="First day of the period, YYYY-MM-DD in city time.")
@click.option("--to", "date_to", metavar="DATE", help="Last day of the period, inclusive (city time).")
@click.option("--month", metavar="YYYY-MM", help="The whole of one month instead of --from/--to.")
@click.option("--fiscal-year", type=int, metavar="YEAR", help="One fiscal year (named by the year it ends in).")
@click.option("--format", "fmt", metavar="FORMAT",
              help="One the pack renders (json, csv, html, pdf, ...; default: the pack's first format).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the report to FILE instead of printing it.")
@pass_obj
def report_render(obj, name, date_from, date_to, month, fiscal_year, fmt, out):
    """Render the report pack NAME for the days --from to --to (both inclusive, city time).

    `civiccrm report packs` lists the packs; see docs/metrics.md for the council-monthly pack.
    """
    deployment = obj.reading
    pack = deployment.registry.report_pack(name, profile=deployment.profile)
    start, end = _pack_period("report render", deployment, date_from, date_to, month, fiscal_year)
    rendered = pack.render_report(deployment, start=start, end=end, format=fmt)
    if out is None:
        if not rendered.is_text:
            raise CivicError(f"--out: {name} rendered {rendered.media_type}, not text; give --out FILE to write it")
        click.echo(rendered.content.decode("utf-8"))
        return
    try:
        with open(out, "wb") as handle:
            handle.write(rendered.content)
    except OSError as exc:
        raise CivicError(f"--out: cannot write {out} ({exc.strerror})") from None
    click.echo(f"{name}: wrote {out}", err=True)


@report.command("send")
@click.argument("name")
@click.option("--from", "date_from", metavar="DATE", help="First day of the period, YYYY-MM-DD in city time.")
@click.option("--to-date", "date_to", metavar="DATE", help="Last day of the period, inclusive (city time).")
@click.option("--month", metavar="YYYY-MM", help="The whole of one month instead of --from/--to-date.")
@click.option("--fiscal-year", type=int, metavar="YEAR", help="One fiscal year (named by the year it ends in).")
@click.option("--to", "address", required=True, metavar="ADDRESS", help="E-mail address to send the report to.")
@pass_obj
def report_send(obj, name, date_from, date_to, month, fiscal_year, address):
    """E-mail the report pack NAME (its HTML page) to ADDRESS through the delivery outbox.

    `civiccrm deliver` sends it; `civiccrm outbox list` shows it. The same report to the same
    address is queued once.
    """
    from civiccrm.services.report_delivery import send_report

    deployment = obj.deployment
    pack = deployment.registry.report_pack(name, profile=deployment.profile)
    start, end = _pack_period("report send", deployment, date_from, date_to, month, fiscal_year)
    row = send_report(deployment, pack=pack, start=start, end=end, address=address)
    click.echo(f"{name}: queued for {address.strip()} (outbox #{row}); `civiccrm deliver` sends it")
