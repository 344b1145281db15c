"""``civiccrm integrations list | status | retry | fetch``: the systems cases are sent to, and how it goes."""

import click

from civiccrm.cli import CivicGroup, cli, emit_json, json_option, pass_obj


@cli.group(cls=CivicGroup)
def integrations():
    """Department systems cases are sent to: what is set up, how delivery goes, retry, fetch updates."""


@integrations.command("list")
@json_option
@pass_obj
def integrations_list(obj, as_json):
    """Registered integrations and the profile's destinations using each."""
    from civiccrm.services import integrations as service

    rows = service.listing(obj.deployment)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        used = ", ".join(row["destinations"]) or "no destination"
        click.echo(f"{row['integration']:<12} {used:<30} {row['description']}")


@integrations.command("status")
@click.argument("tracking_number", required=False)
@json_option
@pass_obj
def integrations_status(obj, tracking_number, as_json):
    """Deliveries, failures in a row, last update and alerts per destination; with TRACKING_NUMBER, where
    that case stands in each destination. Exits 2 when a destination has an alert."""
    from civiccrm.services import integrations as service

    deployment = obj.deployment
    if tracking_number:
        state = service.case_state(deployment, tracking_number)
        if as_json:
            emit_json(state)
            return
        click.echo(f"{state['tracking_number']}: {'sent' if state['sent'] else 'not sent to every destination'}")
        for name, where in state["destinations"].items():
            click.echo(f"  {name:<20} {where['delivery'].value:<10} work order {where['work_order'] or '-'}"
                       f" {where['external_id'] or ''} {where['external_status'] or ''}".rstrip())
        return
    found = service.status(deployment)
    if as_json:
        emit_json([s.to_dict() for s in found])
    else:
        if not found:
            click.echo("no integration destinations in this profile ([integrations.<name>] in profile.toml)")
        for s in found:
            counts = ", ".join(f"{n} {state}" for state, n in s.deliveries.items() if n) or "nothing sent yet"
            last = s.last_update_at.astimezone(deployment.profile.tz).isoformat(timespec="minutes") \
                if s.last_update_at else "never"
            click.echo(f"{s.name} ({s.integration}): {counts}; {s.failures_in_a_row} failures in a row; "
                       f"{s.open_work_orders} open work orders; last update {last}")
            for alert in s.alerts:
                click.echo(f"  ALERT: {alert}")
            for refused in s.recent_refused:
                click.echo(f"  refused update {refused}")
    if any(s.alerts for s in found):
        raise SystemExit(2)


@integrations.command("retry")
@click.argument("destination", required=False)
@pass_obj
def integrations_retry(obj, destination):
    """Make every dead call to DESTINATION (or to every destination) due again with fresh tries."""
    from civiccrm.services import integrations as service

    revived = service.retry(obj.deployment, destination, actor=obj.actor)
    click.echo(f"{len(revived)} dead deliveries made due again" + (f": {', '.join(map(str, revived))}" if revived else ""))


@integrations.command("fetch")
@click.argument("destination", required=False)
@json_option
@pass_obj
def integrations_fetch(obj, destination, as_json):
    """Fetch and apply the updates DESTINATION (or every destination) has since the last good fetch."""
    from civiccrm.services import integrations as service

    results = service.fetch(obj.deployment, destination)
    if as_json:
        emit_json([{"destination": r.destination, "ok": r.ok, "applied": r.applied, "unchanged": r.unchanged,
                    "refused": list(r.refused), "error": r.error} for r in results])
    else:
        for r in results:
            line = f"{r.destination}: {r.applied} applied, {r.unchanged} unchanged, {len(r.refused)} refused"
            click.echo(line + (f"; fetch failed: {r.error}" if r.error else ""))
            for refused in r.refused:
                click.echo(f"  refused {refused}")
    if any(not r.ok for r in results):
        raise SystemExit(1)
