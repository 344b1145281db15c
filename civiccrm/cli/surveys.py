"""`civiccrm survey ...`: survey plans, draws, dispatch, imports, results and action plans."""

from pathlib import Path

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj
from civiccrm.cli.params import inclusive_range, parse_date


@cli.group(cls=CivicGroup)
def survey():
    """Survey instruments, sampling plans, invitations, responses, results and action plans."""


@survey.group(cls=CivicGroup)
def plan():
    """Sampling plans: census, simple random, stratified, systematic, convenience."""


@plan.command("add")
@click.argument("code")
@click.option("--instrument", required=True, help="Instrument code from the city profile, e.g. post-case.")
@click.option("--method", required=True,
              help="census, simple_random, stratified, systematic or convenience.")
@click.option("--n", "sample_size", type=int, help="Sample size of each draw.")
@click.option("--rate", type=float, help="Share of closed cases invited at close (simple_random, stratified).")
@click.option("--strata", help="Stratify by department, service_type, district or channel.")
@click.option("--allocation", default="proportional", show_default=True, help="proportional or equal.")
@click.option("--seed", type=int, help="Random seed (default: a new random one, stored with the plan).")
@pass_obj
def plan_add(obj, code, instrument, method, sample_size, rate, strata, allocation, seed):
    """Add a sampling plan; it becomes the instrument's active plan."""
    from civiccrm.services.surveys import plans as survey_plans

    created = survey_plans.create_plan(obj.deployment, code=code, instrument_code=instrument, method=method,
                                  sample_size=sample_size, rate=rate, strata=strata, allocation=allocation, seed=seed)
    click.echo(f"Plan {created.code}: {created.method.value} for {created.instrument}, seed {created.seed}")


@plan.command("list")
@json_option
@pass_obj
def plan_list(obj, as_json):
    """List sampling plans."""
    from civiccrm.services.surveys import plans as survey_plans

    rows = survey_plans.list_plans(obj.deployment)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['code']:<20} {r['instrument']:<14} {r['method']:<14} n={r['sample_size']} rate={r['rate']} "
                   f"strata={r['strata']} seed={r['seed']}{' (active)' if r['active'] else ''}")


@survey.command()
@click.argument("plan_code", metavar="PLAN")
@click.option("--from", "start", required=True, help="First day of the frame (cases closed from), YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last day of the frame (inclusive), YYYY-MM-DD.")
@json_option
@pass_obj
def draw(obj, plan_code, start, end, as_json):
    """Draw a plan's sample from the cases closed in a period; frame, seed and sample are stored."""
    from civiccrm.services.surveys import draws as survey_draws

    lo, hi = inclusive_range(start, end, obj.deployment.profile.tz)
    result = survey_draws.draw(obj.deployment, plan_code, lo, hi)
    if as_json:
        emit_json(result)
        return
    click.echo(f"Draw {result['draw']}: {result['sample_size']} of {result['frame_size']} cases "
               f"({result['method']}, seed {result['seed']})")
    for stratum, s in result["strata"].items():
        click.echo(f"  {stratum}: {s['allocated']} of {s['population']}")


@survey.command()
@click.argument("draw_id", type=int, metavar="DRAW")
@json_option
@pass_obj
def audit(obj, draw_id, as_json):
    """Re-draw from a stored frame and seed and check the same sample comes out."""
    from civiccrm.services.surveys import draws as survey_draws

    same = survey_draws.verify_draw(obj.deployment, draw_id)
    if as_json:
        emit_json({"draw": draw_id, "reproduced": same})
    else:
        click.echo(f"Draw {draw_id}: {'reproduced exactly' if same else 'NOT reproduced'}")
    if not same:
        raise SystemExit(1)


@survey.command()
@click.argument("draw_id", type=int, metavar="DRAW")
@json_option
@pass_obj
def send(obj, draw_id, as_json):
    """Invite the requesters of a draw's sample (each once; the usual rules apply)."""
    from civiccrm.services.surveys import invitations as survey_invitations

    result = survey_invitations.send(obj.deployment, draw_id)
    if as_json:
        emit_json(result)
        return
    click.echo(f"Draw {draw_id}: " + ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())))


@survey.command("import")
@click.argument("instrument")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@pass_obj
def import_(obj, instrument, files, as_json):
    """Import responses: a resident-survey file laid out as the profile says (e.g. kc-resident),
    or a CSV with one column per item code."""
    from civiccrm.services.surveys import imports as survey_imports, instruments as survey_instruments

    inst = survey_instruments.instrument(obj.deployment, instrument)
    if inst.respondent_column:
        result = survey_imports.import_resident_survey(obj.deployment, instrument, list(files))
    else:
        per_file = [survey_imports.import_csv(obj.deployment, instrument, f) for f in files]
        result = {"files": per_file, "read": sum(f["read"] for f in per_file),
                  "imported": sum(f["imported"] for f in per_file), "skipped": sum(f["skipped"] for f in per_file)}
    if as_json:
        emit_json(result)
        return
    click.echo(f"{instrument}: {result['read']} responses read, {result['imported']} imported, "
               f"{result['skipped']} already stored")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


@survey.command()
@click.argument("instrument")
@click.option("--item", help="One item code.")
@click.option("--by", help="department, work_group, service_type, district, channel, period, wave, method, "
                           "audience, or a demographic column of the instrument.")
@click.option("--plan", "plan_code", help="Only the responses of this sampling plan.")
@json_option
@pass_obj
def results(obj, instrument, item, by, plan_code, as_json):
    """Share acceptable-or-better, mean and 95% interval per item (and group), with targets;
    counts and shares per option of choice and yes/no items; answers given to free-text items."""
    from civiccrm.metrics import surveys as survey_metrics

    figures = survey_metrics.results(obj.deployment, instrument, item=item, by=by, plan=plan_code)
    if as_json:
        figures["coverage"] = survey_metrics.coverage(obj.deployment, instrument)
        emit_json(figures)
        return
    click.echo(f"{figures['name']} ({figures['design']}"
               f"{'; ' + figures['label'] if figures['label'] else ''}); response rate {_pct(figures['response_rate'])}")
    for r in figures["rows"]:
        interval = f"[{_pct(r['low'])}, {_pct(r['high'])}]" if r["low"] is not None else "(no interval)"
        flag = " UNDER TARGET" if r["under_target"] else ""
        target = f" target {_pct(r['target'])}" if r["target"] is not None else ""
        click.echo(f"{r['group']:<10} {r['item']:<22} n={r['answered']:<6} {_pct(r['share']):>6} {interval} "
                   f"mean {r['mean']:.2f}{target}{flag}")
        for p in r["action_plans"]:
            click.echo(f"           action plan {p['id']} ({p['status']}, due {p['due']}, {p['owner']}): {p['actions']}")
    for c in figures["choices"]:
        picks = ", ".join(f"{o['label']} {o['count']} ({_pct(o['share'])})" for o in c["options"])
        click.echo(f"{c['group']:<10} {c['item']:<22} n={c['answered']:<6} {picks}")
    for t in figures["text_items"]:
        click.echo(f"{t['group']:<10} {t['item']:<22} n={t['answered']:<6} (free text)")


@survey.group()
def actions():
    """Action plans for items under target."""


@actions.command("list")
@click.option("--instrument")
@click.option("--all", "include_closed", is_flag=True, help="Include closed plans.")
@json_option
@pass_obj
def actions_list(obj, instrument, include_closed, as_json):
    """List action plans (open ones unless --all)."""
    from civiccrm.services.surveys import action_plans as survey_action_plans

    plans = survey_action_plans.action_plans(obj.deployment, instrument_code=instrument, include_closed=include_closed)
    if as_json:
        import attrs

        emit_json([attrs.asdict(p) for p in plans])
        return
    for p in plans:
        click.echo(f"{p.id:>4} {p.instrument}/{p.item} {p.department or 'all'} {p.status.value} due {p.due} "
                   f"{p.owner}: {p.actions}{f' [{p.code}]' if p.code else ''}")


@actions.command("add")
@click.option("--instrument", required=True)
@click.option("--item", required=True)
@click.option("--department")
@click.option("--owner", required=True)
@click.option("--actions", "text", required=True, help="What will be done.")
@click.option("--due", required=True, help="Due date, YYYY-MM-DD.")
@pass_obj
def actions_add(obj, instrument, item, department, owner, text, due):
    """Attach an action plan to an item under target."""
    from civiccrm.services.surveys import action_plans as survey_action_plans

    created = survey_action_plans.add_action_plan(obj.deployment, instrument_code=instrument, item=item, owner=owner,
                                      actions=text, due=parse_date(due, "--due"), department=department)
    click.echo(f"Action plan {created.id} for {created.item} ({created.department or 'all departments'}), due {created.due}")


@actions.command("status")
@click.argument("plan_id", type=int)
@click.argument("status")
@pass_obj
def actions_status(obj, plan_id, status):
    """Set an action plan's status: open, in_progress or closed."""
    from civiccrm.domain.surveys import parse_action_status
    from civiccrm.services.surveys import action_plans as survey_action_plans

    updated = survey_action_plans.update_action_plan(obj.deployment, plan_id, parse_action_status(status))
    click.echo(f"Action plan {updated.id}: {updated.status.value}")


@survey.command("opt-out")
@click.argument("address")
@pass_obj
def opt_out(obj, address):
    """Never send surveys to this e-mail address again."""
    from civiccrm.services.surveys import invitations as survey_invitations

    survey_invitations.opt_out(obj.deployment, address)
    click.echo(f"{address}: opted out of surveys")


@survey.command("list")
@json_option
@pass_obj
def list_instruments(obj, as_json):
    """List survey instruments with their items."""
    from civiccrm.services.surveys import instruments as survey_instruments

    found = survey_instruments.instruments(obj.deployment)
    rows = [{"code": i.code, "name": i.name, "audience": i.audience, "items": len(i.questions), "note": i.note}
            for i in found.values()]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['code']:<14} {r['name']} ({r['audience']}, {r['items']} items)")
