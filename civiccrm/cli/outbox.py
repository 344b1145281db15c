"""``civiccrm deliver`` (the outbox worker) and ``civiccrm outbox list | show | retry``."""

import threading

import click

from civiccrm.cli import cli, emit_json, json_option, pass_obj


@cli.command()
@click.option("--once", is_flag=True, help="Deliver what is due, then exit (for cron); default: run as a service.")
@click.option("--batch", "limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Rows claimed at a time.")
@click.option("--lease", "lease_seconds", type=click.FloatRange(1, 86400), default=300, show_default=True,
              help="Seconds a claimed row stays this worker's; a killed worker's rows are taken up after it.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True,
              help="Seconds to sleep when nothing is due (service mode).")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Only these kinds or families (message, message:email, integration); repeatable.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Deliveries in flight at once: a slow destination does not hold up the rest.")
@pass_obj
def deliver(obj, once, limit, lease_seconds, interval, kinds, concurrency):
    """Send what the outbox holds: messages and integration calls, with retries and back-off.

    Several workers may run at once (on one machine or many): each row is claimed by one.
    SIGTERM or Ctrl-C finishes the delivery in hand, then stops.
    """
    from civiccrm.services import outbox

    deployment = obj.deployment
    stop = threading.Event()
    outbox.stop_on_signals(stop)
    worker = outbox.worker_name()
    if not once:
        click.echo(f"Delivery worker {worker} started (every {interval:g} s when idle; Ctrl-C stops it).", err=True)

    def report(result):
        if not once:
            click.echo(f"claimed {result.claimed}: sent {result.sent}, failed {result.failed}, dead {result.dead}",
                       err=True)

    total = outbox.run(deployment, once=once, limit=limit, lease_seconds=lease_seconds, interval=interval,
                       worker=worker, kinds=tuple(kinds) or None, stop=stop, on_batch=report,
                       concurrency=concurrency)
    click.echo(f"Delivered {total.sent}; failed {total.failed} (to be retried); dead {total.dead}"
               + (f"; {total.lost_lease} taken over by another worker" if total.lost_lease else "") + ".")


@cli.group("outbox")
def outbox_group():
    """Deliveries waiting, sent, failed and dead (the delivery outbox)."""


@outbox_group.command("list")
@click.option("--state", help="pending, delivering, sent or dead.")
@click.option("--kind", help="A kind (message:email) or family (message, integration).")
@click.option("--subject", help="What the deliveries are about, e.g. case:2026-000123.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many rows.")
@json_option
@pass_obj
def list_(obj, state, kind, subject, limit, as_json):
    """List deliveries with their state, tries and last error."""
    from civiccrm.services import outbox

    found = outbox.entries(obj.deployment, state=outbox.parse_state(state) if state else None, kind=kind,
                           subject=subject, limit=limit)
    if as_json:
        emit_json([e.to_dict() for e in found])
        return
    if not found:
        click.echo("No deliveries" + (f" in state {state}" if state else "") + ".")
    for e in found:
        tail = e.last_error if e.state.value in ("pending", "dead") and e.last_error else (e.receipt or "")
        click.echo(f"{e.id:>6}  {e.state.value:<10} {e.tries}/{e.max_attempts}  {e.kind:<22} "
                   f"{e.destination:<30} {e.subject or '-':<20} {tail}")


@outbox_group.command("show")
@click.argument("outbox_id", type=int)
@json_option
@pass_obj
def show(obj, outbox_id, as_json):
    """One delivery and every attempt at it, with the reason of each."""
    from civiccrm.services import outbox

    found, tries = outbox.entry(obj.deployment, outbox_id)
    if as_json:
        emit_json({**found.to_dict(), "attempts": tries})
        return
    click.echo(f"Delivery {found.id}: {found.kind} to {found.destination} ({found.state.value}, "
               f"{found.tries}/{found.max_attempts} tries)")
    click.echo(f"  about {found.subject or '-'}; key {found.idempotency_key}; created {found.created_at:%Y-%m-%d %H:%M:%S}Z")
    for a in tries:
        click.echo(f"  try {a['attempt']:>2} {a['finished_at']:%Y-%m-%d %H:%M:%S}Z {a['outcome']:<9} "
                   f"{a['worker']}: {a['reason'] or ''}")


@outbox_group.command("retry")
@click.argument("outbox_id", type=int, required=False)
@click.option("--dead", is_flag=True, help="Every dead delivery.")
@pass_obj
def retry(obj, outbox_id, dead):
    """Try delivery ID (dead or failed) again now with a fresh set of tries, or every dead one."""
    from civiccrm.services import outbox

    ids = outbox.retry(obj.deployment, outbox_id=outbox_id, dead=dead, actor=obj.actor)
    if not ids:
        click.echo("No dead deliveries to retry.")
        return
    click.echo(f"Requeued {len(ids)} deliver{'y' if len(ids) == 1 else 'ies'}: {', '.join(map(str, ids))} "
               "(`civiccrm deliver --once` sends them).")
