"""Tamper evidence: `civiccrm audit seal | head | verify` over the history hash chain."""

import click

from civiccrm.cli import cli, emit_json, json_option, pass_obj


@cli.group()
def audit():
    """Hash chain over case history (run `audit seal` from cron; keep `audit head` elsewhere)."""


@audit.command()
@pass_obj
def seal(obj):
    """Append every history event committed since the last seal to the chain."""
    from civiccrm.services import audit as audit_service

    count = audit_service.seal(obj.deployment)
    head = audit_service.head(obj.deployment)
    click.echo(f"sealed {count} events; chain head {head or 'none (no history yet)'}")


@audit.command()
@json_option
@pass_obj
def head(obj, as_json):
    """Print the chain head as HASH@COUNT (its hash and the number of links), to be kept where the database's owner cannot write."""
    from civiccrm.services import audit as audit_service

    found = audit_service.head(obj.deployment)
    if as_json:
        emit_json(None if found is None else {"links": found.position, "event_id": found.event_id, "hash": found.hash,
                                              "head": str(found)})
    else:
        click.echo(str(found) if found else "no links yet (run `civiccrm audit seal`)")


@audit.command()
@click.option("--head", "kept", metavar="HASH@COUNT", help="A head kept elsewhere that the chain must pass through.")
@json_option
@pass_obj
def verify(obj, kept, as_json):
    """Recompute the chain; name the first broken link (exit 1 when there is one)."""
    from civiccrm.services import audit as audit_service

    expected = audit_service.ChainHead.parse(kept) if kept else None
    verdict = audit_service.verify(obj.deployment, expected=expected)
    if as_json:
        emit_json({"ok": verdict.ok, "links": verdict.links, "unsealed": verdict.unsealed, "broken": verdict.broken})
    elif verdict.ok:
        click.echo(f"chain intact: {verdict.links} links; {verdict.unsealed} events not sealed yet")
    else:
        b = verdict.broken
        click.echo(f"chain broken at link {b['link']} (event {b['event_id']}, case {b['case']}): {b['problem']}")
    if not verdict.ok:
        raise SystemExit(1)
