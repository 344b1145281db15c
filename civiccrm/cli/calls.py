"""`civiccrm calls ...`: import ACD exports, call-centre figures, Erlang C / Erlang A and staffing."""

import csv
import math
from datetime import date

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.params import parse_date
from civiccrm.errors import CivicError

MAX_SHOWN = 50
"""Rejected rows printed on stderr; ``--errors FILE`` keeps them all."""


def _period(date_from: str, date_to: str) -> tuple[date, date]:
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if end < start:
        raise CivicError(f"--to: {end} is before --from {start}")
    return start, end


def _number(value, digits=1, suffix="") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@cli.group("calls", cls=CivicGroup)
def calls_group():
    """Call centre: call records, abandonment, speed of answer, Erlang staffing."""


@calls_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "format_name", required=True, metavar="NAME",
              help="An export format of the city profile ([calls.formats.NAME]), e.g. amazon-connect, uccx-csq, generic.")
@click.option("--batch-size", default=50_000, show_default=True, type=click.IntRange(min=1), help="Rows per transaction.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, writable=True),
              help="Write every rejected row (one line each) to this file.")
@json_option
@pass_obj
def import_command(obj, files, format_name, batch_size, errors_path, as_json):
    """Import call records or interval rows; running it again changes nothing (later updates win)."""
    from civiccrm.services.calls import import_calls

    shown = []
    sink = open(errors_path, "w", encoding="utf-8") if errors_path else None

    def on_error(message: str) -> None:
        if len(shown) < MAX_SHOWN:
            shown.append(message)
        if sink is not None:
            sink.write(message + "\n")

    try:
        summary = import_calls(obj.deployment, list(files), format_name, batch_size=batch_size, on_error=on_error)
    finally:
        if sink is not None:
            sink.close()
        for message in shown:
            click.echo(message, err=True)
    if summary.rejected > len(shown):
        click.echo(f"{summary.rejected - len(shown)} more rejected row(s) not shown"
                   + (f" (all are in {errors_path})" if errors_path else " (--errors FILE keeps them all)"), err=True)
    if as_json:
        emit_json(summary.as_dict())
    else:
        click.echo(summary.line())
        for reason, count in sorted(summary.skipped.items()):
            click.echo(f"skipped {count} row(s): {reason}")
    if summary.rejected or summary.read == 0:
        click.get_current_context().exit(1)


@calls_group.command("report")
@click.option("--from", "date_from", required=True, metavar="DATE", help="First day, YYYY-MM-DD (city time).")
@click.option("--to", "date_to", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option("--by", type=click.Choice(["hour", "weekday", "day", "month", "queue"]), help="Group the figures.")
@click.option("--short-abandon", "short_abandon", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Short-abandon threshold (default: the profile's calls.short_abandon_seconds).")
@click.option("--answer-within", "answer_within", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Service-level threshold T (default: the profile's calls.service_level_seconds).")
@json_option
@pass_obj
def report_command(obj, date_from, date_to, by, short_abandon, answer_within, as_json):
    """Offered, handled, abandoned, ASA, service level and AHT; wrap-up codes, FCR, calls per case."""
    from civiccrm.metrics.calls import call_report, definitions

    start, end = _period(date_from, date_to)
    deployment = obj.deployment
    settings = deployment.profile.call_settings()
    short = settings.short_abandon_seconds if short_abandon is None else short_abandon
    within = settings.service_level_seconds if answer_within is None else answer_within
    report = call_report(deployment.engine, start=start, end=end, by=by, short_abandon_seconds=short,
                         service_level_seconds=within, first_contact_days=settings.first_contact_days)
    if as_json:
        emit_json(report.as_dict())
        return
    echo = click.echo
    echo(f"Calls {start} to {end} ({deployment.profile.name}); short abandon < {short:g} s, T = {within:g} s")
    for source, t, a in report.interval_thresholds:
        echo(f"  interval rows from {source}: counted by the ACD with T = {_number(t, 0)} s, short abandon < {_number(a, 0)} s")
    header = (f"{'':<12} {'offered':>9} {'handled':>9} {'abandoned':>9} {'aband. %':>9} {'ASA s':>7} "
              f"{'SL ' + format(within, 'g') + 's':>8} {'AHT s':>7}")
    echo(header)
    for figures in (*report.groups, report.total):
        echo(f"{figures.label:<12} {figures.offered:>9,} {figures.handled:>9,} {figures.abandoned:>9,} "
             f"{_share(figures.abandonment_rate):>9} {_number(figures.asa_seconds):>7} "
             f"{_share(figures.service_level):>8} {_number(figures.aht_seconds):>7}")
    if report.wrap_ups:
        echo("")
        echo(f"{'wrap-up code':<24} {'handled':>8} {'w/ case':>8} {'no case':>8} {'talk s: p25':>12} {'median':>7} {'p75':>7} {'p90':>7}")
        for w in report.wrap_ups:
            p = w.talk_percentiles
            echo(f"{w.code:<24} {w.handled:>8,} {w.with_case:>8,} {w.handled - w.with_case:>8,} {_number(p['p25'], 0):>12} "
                 f"{_number(p['median'], 0):>7} {_number(p['p75'], 0):>7} {_number(p['p90'], 0):>7}")
    echo("")
    echo(f"first-contact resolution: {_share(report.first_contact_resolution)} "
         f"({report.fcr_resolved:,} of {report.fcr_eligible:,}; no repeat on the same code within {settings.first_contact_days:g} days)")
    echo(f"calls per case: {_number(report.calls_per_case, 2)} ({report.case_calls:,} calls, {report.cases:,} cases)")
    echo("")
    for metric in definitions(short, within, settings.first_contact_days):
        echo(f"  {metric.definition}")


@calls_group.command("erlang")
@click.option("--arrivals-per-hour", "arrivals", required=True, type=float, metavar="L", help="Calls offered per hour.")
@click.option("--aht", required=True, type=float, metavar="SECONDS", help="Average handle time.")
@click.option("--agents", required=True, type=int, metavar="N", help="Agents on the phones.")
@click.option("--patience", type=float, metavar="SECONDS", help="Mean patience: Erlang A (abandonment); without it Erlang C.")
@click.option("--answer-within", "within", type=float, default=20.0, show_default=True, metavar="SECONDS",
              help="Service-level threshold T.")
@json_option
def erlang_command(arrivals, aht, agents, patience, within, as_json):
    """Probability of waiting and of abandoning, average wait, service level and occupancy."""
    from civiccrm.domain import erlang

    erlang.check_inputs(arrivals_per_hour=arrivals, aht_seconds=aht, agents=agents, patience_seconds=patience,
                        answer_within_seconds=within)
    figures = erlang.queue_figures(arrivals_per_hour=arrivals, aht_seconds=aht, agents=agents,
                                   answer_within_seconds=within, patience_seconds=patience)
    load = arrivals * aht / 3600.0
    model = "erlang-a" if patience is not None else "erlang-c"
    stable = patience is not None or agents > load
    data = {
        "model": model, "arrivals_per_hour": arrivals, "aht_seconds": aht, "agents": agents,
        "patience_seconds": patience, "answer_within_seconds": within, "load_erlangs": load, "stable": stable,
        "probability_wait": float(figures.probability_wait), "probability_abandon": float(figures.probability_abandon),
        "average_wait_seconds": float(figures.average_wait) if stable else None,
        "service_level": float(figures.service_level), "occupancy": float(figures.occupancy),
    }
    if as_json:
        emit_json(data)
        return
    click.echo(f"{model}: {arrivals:g} calls/h x {aht:g} s = {load:.2f} Erlangs on {agents} agents"
               + (f", mean patience {patience:g} s" if patience is not None else ""))
    if not stable:
        click.echo("  agents <= load: under Erlang C the queue grows without bound (give --patience for Erlang A)")
    click.echo(f"  P(wait)            {_share(data['probability_wait'])}")
    click.echo(f"  P(abandon)         {_share(data['probability_abandon'])}")
    click.echo(f"  average wait       {_number(data['average_wait_seconds'])} s")
    click.echo(f"  service level      {_share(data['service_level'])} answered within {within:g} s")
    click.echo(f"  occupancy          {_share(data['occupancy'])}")


@calls_group.command("staffing")
@click.option("--from", "date_from", required=True, metavar="DATE", help="First day of the calls to fit, YYYY-MM-DD.")
@click.option("--to", "date_to", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option("--target", metavar="PCT/SECONDS", help="Goal, e.g. 80/20 (default: the profile's calls.target).")
@click.option("--patience", metavar="auto|SECONDS", help="Erlang A with this mean patience, or estimated from the calls "
              "(auto); without it Erlang C.")
@click.option("--schedule", "schedule_path", type=click.Path(dir_okay=False), metavar="CSV",
              help="Staff scheduled (weekday,start,staff): adds the abandonment Erlang A predicts for it.")
@json_option
@pass_obj
def staffing_command(obj, date_from, date_to, target, patience, schedule_path, as_json):
    """Agents needed per half-hour of the week, beside the 80-calls-a-shift rule of thumb."""
    from civiccrm.domain import staffing
    from civiccrm.domain.calls import parse_target
    from civiccrm.metrics.calls import week_totals

    start, end = _period(date_from, date_to)
    deployment = obj.deployment
    settings = deployment.profile.call_settings()
    level, within = (parse_target(target) if target else (settings.target_level, settings.service_level_seconds))
    totals = week_totals(deployment.engine, start=start, end=end, short_abandon_seconds=settings.short_abandon_seconds)
    if patience is None:
        patience_seconds = None
    elif patience.strip().lower() == "auto":
        patience_seconds = staffing.estimate_patience(abandoned=totals.abandoned,
                                                      offered_wait_seconds=totals.offered_wait_seconds)
    else:
        try:
            patience_seconds = float(patience)
        except ValueError:
            raise CivicError(f"--patience: {patience!r} is not auto or a number of seconds") from None
        if not math.isfinite(patience_seconds) or patience_seconds <= 0:
            raise CivicError(f"--patience: must be greater than 0 seconds, got {patience}")
    schedule = staffing.read_schedule(schedule_path) if schedule_path else None
    if not any(map(any, totals.offered)):
        raise CivicError(f"--from/--to: no calls offered from {start} to {end}; import some with `civiccrm calls import`")
    result = staffing.plan(
        offered=totals.offered, handled=totals.handled, handle_seconds=totals.handle_seconds,
        days_of_weekday=totals.days_of_weekday, level=level, within_seconds=within, shrinkage=settings.shrinkage,
        calls_per_agent_hour=settings.calls_per_agent_hour, patience_seconds=patience_seconds, schedule=schedule,
    )
    rows = []
    for d in range(7):
        for s in range(48):
            if result.arrivals_per_hour[d][s] <= 0 and (schedule is None or not schedule[d][s]):
                continue
            row = {
                "weekday": staffing.WEEKDAY_NAMES[d], "start": staffing.slot_label(s),
                "calls": result.arrivals_per_hour[d][s] / 2, "arrivals_per_hour": result.arrivals_per_hour[d][s],
                "aht_seconds": result.aht_seconds[d][s], "agents": int(result.agents[d][s]),
                "staff": int(result.staff[d][s]), "rule_of_thumb": int(result.rule_of_thumb[d][s]),
                "service_level": result.service_level[d][s], "abandonment": result.abandonment[d][s],
            }
            if result.scheduled is not None:
                row |= {"scheduled": int(result.scheduled[d][s]),
                        "scheduled_abandonment": result.scheduled_abandonment[d][s],
                        "scheduled_service_level": result.scheduled_service_level[d][s]}
            rows.append(row)
    days = [
        {"weekday": staffing.WEEKDAY_NAMES[d], "calls": float(result.arrivals_per_hour[d].sum() / 2),
         "rule_of_thumb_staff": staffing.daily_rule_of_thumb(result.arrivals_per_hour[d].sum() / 2, settings.calls_per_shift),
         "agent_hours": float(result.agents[d].sum() / 2), "staff_hours": float(result.staff[d].sum() / 2)}
        for d in range(7)
    ]
    data = {
        "from": start.isoformat(), "to": end.isoformat(), "model": "erlang-a" if patience_seconds else "erlang-c",
        "target": {"level": level, "within_seconds": within}, "patience_seconds": patience_seconds,
        "shrinkage": settings.shrinkage, "calls_per_agent_hour": settings.calls_per_agent_hour,
        "calls_per_shift": settings.calls_per_shift, "half_hours": rows, "days": days,
    }
    if as_json:
        emit_json(data)
        return
    echo = click.echo
    model = f"Erlang A, mean patience {patience_seconds:.0f} s" if patience_seconds else "Erlang C"
    echo(f"Staffing for {100 * level:g}% answered within {within:g} s ({model}; shrinkage {100 * settings.shrinkage:g}%) "
         f"from calls {start} to {end}")
    head = f"{'day':<10}{'time':<7}{'calls':>7}{'AHT s':>7}{'agents':>7}{'staff':>6}{'thumb':>6}{'SL':>7}{'aband.':>7}"
    if result.scheduled is not None:
        head += f"{'sched.':>7}{'aband.':>7}{'SL':>7}"
    echo(head)
    for row in rows:
        line = (f"{row['weekday'][:9]:<10}{row['start']:<7}{row['calls']:>7.1f}{row['aht_seconds']:>7.0f}"
                f"{row['agents']:>7}{row['staff']:>6}{row['rule_of_thumb']:>6}{_share(row['service_level']):>7}"
                f"{_share(row['abandonment']):>7}")
        if result.scheduled is not None:
            line += f"{row['scheduled']:>7}{_share(row['scheduled_abandonment']):>7}{_share(row['scheduled_service_level']):>7}"
        echo(line)
    echo("")
    for day in days:
        echo(f"{day['weekday']:<10} {day['calls']:>8.0f} calls: {day['staff_hours']:>6.1f} staff-hours by the model; "
             f"rule of thumb {day['rule_of_thumb_staff']} staff ({settings.calls_per_shift:g} calls a shift)")
    echo(f"agents = fewest meeting the goal; staff = agents / (1 - {settings.shrinkage:g}); "
         f"thumb = calls / {settings.calls_per_agent_hour / 2:g} per half-hour")


@calls_group.command("generate")
@click.option("--from", "date_from", required=True, metavar="DATE", help="First day of synthetic calls.")
@click.option("--days", type=click.IntRange(min=1), default=28, show_default=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--calls-per-day", type=click.FloatRange(min=1), default=1100.0, show_default=True,
              help="Expected calls on an ordinary Thursday.")
@click.option("--storm", "storms", multiple=True, metavar="DATE", help="A storm day (calls x 2.7); repeatable.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timezone", default="America/Chicago", show_default=True)
def generate_command(date_from, days, out_path, calls_per_day, storms, seed, timezone):
    """Write synthetic calls (generic format) with known seasonality: Monday peaks, storm days."""
    from civiccrm.domain.callgen import GENERIC_HEADER, CallPattern, generate_calls

    pattern = CallPattern(calls_per_day=calls_per_day, storm_days=tuple(parse_date(s, "--storm") for s in storms))
    count = 0
    with open(out_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=GENERIC_HEADER)
        writer.writeheader()
        for row in generate_calls(pattern, start=parse_date(date_from, "--from"), days=days, timezone=timezone, seed=seed):
            writer.writerow(row)
            count += 1
    click.echo(f"wrote {count:,} calls to {out_path}")
