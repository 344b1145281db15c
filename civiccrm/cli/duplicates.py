"""``civiccrm case duplicates`` and ``civiccrm duplicates evaluate``: possible duplicates and how well the rule does."""

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.cases import case
from civiccrm.domain.duplicates import DuplicateCandidate, describe


def candidate_dict(candidate: DuplicateCandidate, tz) -> dict:
    return {"tracking_number": candidate.tracking_number, "service_code": candidate.service_code,
            "request_type": candidate.request_type, "status": candidate.status,
            "opened_at": candidate.opened_at.astimezone(tz), "distance_m": candidate.distance_m,
            "age_hours": round(candidate.age.total_seconds() / 3600, 1), "address": candidate.address,
            "score": candidate.score}


@case.command("duplicates")
@click.argument("tracking_number")
@json_option
@pass_obj
def case_duplicates(obj, tracking_number, as_json):
    """List open cases that may be the same problem as TRACKING_NUMBER, best match first."""
    from civiccrm.services import duplicates

    deployment = obj.deployment
    found = duplicates.for_case(deployment, tracking_number)
    if as_json:
        emit_json([candidate_dict(c, deployment.profile.tz) for c in found])
        return
    for candidate in found:
        click.echo(f"{describe(candidate)}  {candidate.address or ''}".rstrip())
    if not found:
        click.echo(f"no possible duplicates of {tracking_number.strip()}", err=True)


@cli.group(cls=CivicGroup)
def duplicates():
    """Measure the duplicate rule against the duplicates the city marked itself."""


@duplicates.command("evaluate")
@click.option("--radius-m", "radius", type=click.FloatRange(min=0), multiple=True,
              help="Also try every type at this radius in metres (repeatable).")
@click.option("--window-days", "window", type=click.FloatRange(min=0), multiple=True,
              help="Also try every type with this window in days (repeatable; default 30 with --radius-m).")
@json_option
@pass_obj
def duplicates_evaluate(obj, radius, window, as_json):
    """Replay every case with a point: how many of the city's duplicates the rule finds, how many false alarms."""
    from civiccrm.metrics.duplicates import evaluate, uniform

    deployment = obj.deployment
    policy = deployment.profile.duplicates
    results = [evaluate(deployment)]
    for r in radius or ((policy.default.radius_m,) if window else ()):
        for w in window or (policy.default.window_days,):
            results.append(evaluate(deployment, uniform(policy, r, w), label=f"{r:g} m, {w:g} days"))
    if as_json:
        emit_json([e.as_dict() for e in results])
        return

    def share(value):
        return "-" if value is None else f"{value:.1%}"

    click.echo(f"{'rule':<18} {'cases':>7} {'city dup':>8} {'found':>6} {'recall':>7} {'false alarms':>13} "
               f"{'rate':>6} {'precision':>9}")
    for e in results:
        click.echo(f"{e.label:<18} {e.cases:>7} {e.city_duplicates:>8} {e.found:>6} {share(e.recall):>7} "
                   f"{e.false_alarms:>13} {share(e.false_alarm_rate):>6} {share(e.precision):>9}")
