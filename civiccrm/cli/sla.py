"""`civiccrm sla ...`: SLA policies, breach scan, recompute and comparison."""

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.params import parse_date


@cli.group(cls=CivicGroup)
def sla():
    """SLA policies, the breach scan, recompute and the comparison with the city's verdicts."""


@sla.command("scan")
@click.option("--warning", help="Warn this long before the due time, e.g. 4h (default: the profile's [sla] warning).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Cases escalated per transaction.")
@json_option
@pass_obj
def sla_scan(obj, warning, batch_size, as_json):
    """Escalate open cases newly due within the warning window or past due, and cases past their
    first-response due time with no first response (safe to run every minute)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from civiccrm.domain.sla import parse_duration
    from civiccrm.services import sla as service

    try:
        result = service.scan(obj.deployment, warning=parse_duration(warning, where="--warning") if warning else None,
                              actor=obj.actor if obj.actor != "cli" else "sla-scan", batch_size=batch_size)
    except DBAPIError as exc:
        if isinstance(exc, OperationalError):
            raise
        reason = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"sla scan stopped: the database refused a batch ({reason}); the batches before "
                                   "it are kept and were told to the plugins; run it again to finish") from None
    if as_json:
        emit_json({"warned": list(result.warned), "breached": list(result.breached),
                   "response_breached": list(result.response_breached), "failed_hooks": result.failed_hooks})
        return
    click.echo(f"{len(result.warned)} warned, {len(result.breached)} breached, "
               f"{len(result.response_breached)} response breached"
               + (f", {result.failed_hooks} hook failure(s) recorded" if result.failed_hooks else ""))
    for number in result.breached:
        click.echo(f"breached {number}")
    for number in result.response_breached:
        click.echo(f"no first response {number}")
    for number in result.warned:
        click.echo(f"warning  {number}")


@sla.command("recompute")
@click.option("--include-closed", is_flag=True,
              help="Also recompute closed cases' due times and re-judge their on-time verdicts (history analysis).")
@click.option("--type", "type_", help="Only cases of this service type.")
@click.option("--batch-size", type=click.IntRange(100, 1_000_000), default=100_000, show_default=True)
@json_option
@pass_obj
def sla_recompute(obj, include_closed, type_, batch_size, as_json):
    """Recompute stored due times after a calendar or policy change; reports how many moved."""
    from civiccrm.services import sla as service

    result = service.recompute(obj.deployment, include_closed=include_closed, service_code=type_,
                               batch_size=batch_size)
    if as_json:
        emit_json({"examined": result.examined, "moved": result.moved,
                   "verdicts_changed": result.verdicts_changed, "largest_move_seconds": result.seconds_moved})
        return
    click.echo(f"{result.examined} cases examined, {result.moved} due dates moved"
               + (f", {result.verdicts_changed} on-time verdicts changed" if include_closed else ""))


@sla.command("compare")
@json_option
@pass_obj
def sla_compare(obj, as_json):
    """How often the project's on-time verdict agrees with the city's own, overall and by department."""
    from civiccrm.metrics.sla import compare

    total, groups = compare(obj.deployment)

    def as_dict(a):
        return {"department": a.group, "cases": a.cases, "agree": a.agree, "agreement": a.share,
                "project_late_city_on_time": a.project_late_city_on_time,
                "project_on_time_city_late": a.project_on_time_city_late}

    if as_json:
        emit_json({"overall": as_dict(total), "departments": [as_dict(g) for g in groups]})
        return
    if not total.cases:
        click.echo("no closed case has both the project's verdict and the city's (import the city's data first)")
        return
    click.echo("Agreement of on_time with the city's EXCEEDED EST TIMEFRAME (agree = on_time is not exceeded)")
    click.echo(f"{'department':<40} {'cases':>8} {'agree':>8} {'share':>7} {'late/ok':>8} {'ok/late':>8}")
    for a in [*groups, total]:
        click.echo(f"{a.group[:40]:<40} {a.cases:>8} {a.agree:>8} {a.share:>7.1%} "
                   f"{a.project_late_city_on_time:>8} {a.project_on_time_city_late:>8}")
    click.echo("late/ok: project late, city on time; ok/late: project on time, city late")


@sla.group("policy", cls=CivicGroup)
def policy():
    """Show and add SLA policy versions (a change is a new version; history is never edited)."""


def _policy_dict(p) -> dict:
    return {"service_code": p.service_code, "effective_from": p.effective_from, "target": p.target,
            "basis": p.basis, "calendar": p.calendar, "first_response": p.first_response,
            "pause_statuses": sorted(p.pause_statuses), "clock_start": p.clock_start,
            "source": p.source, "note": p.note}


@policy.command("show")
@click.argument("service_type")
@json_option
@pass_obj
def policy_show(obj, service_type, as_json):
    """Every version of a service type's policy, oldest first."""
    profile = obj.deployment.profile
    st = profile.service_type(service_type)
    versions = profile.sla.history(st.code)
    if as_json:
        emit_json([_policy_dict(p) for p in versions])
        return
    click.echo(f"{st.code} ({st.name})")
    for p in versions:
        extra = f", first response {p.first_response:g}" if p.first_response else ""
        click.echo(f"  {p.label}{extra}; paused in {', '.join(sorted(p.pause_statuses)) or 'nothing'}; "
                   f"clock starts at {p.clock_start}  [{p.source}]" + (f"  {p.note}" if p.note else ""))


@policy.command("set")
@click.argument("service_type")
@click.option("--target", type=float, required=True, help="Resolution target in units of the basis (> 0).")
@click.option("--basis", help="calendar_days, business_days or business_hours (default: as now).")
@click.option("--calendar", help="Calendar code from the profile (default: as now).")
@click.option("--from", "date_from", help="First local date the version applies to (default today; not in the past).")
@click.option("--first-response", type=float, help="First-response target, same units as --target.")
@click.option("--pause", multiple=True, help="A status that pauses the clock (repeatable; default: as now).")
@click.option("--clock-start", help="receipt or next_opening (default: as now).")
@click.option("--note", help="Why the time-frame changed.")
@json_option
@pass_obj
def policy_set(obj, service_type, target, basis, calendar, date_from, first_response, pause, clock_start, note, as_json):
    """Add a new policy version for SERVICE_TYPE; run `civiccrm sla recompute` afterwards."""
    from civiccrm.services import sla as service

    added = service.set_policy(
        obj.deployment, service_type, target=target, basis=basis, calendar=calendar,
        effective_from=parse_date(date_from, "--from") if date_from else None, first_response=first_response,
        pause_statuses=list(pause) or None, clock_start=clock_start, note=note, actor=obj.actor,
    )
    if as_json:
        emit_json(_policy_dict(added))
    else:
        click.echo(f"{added.service_code}: {added.label}")
