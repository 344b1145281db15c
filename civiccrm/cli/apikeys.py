"""``civiccrm apikey add | list | revoke``: keys for Open311 clients."""

import click

from civiccrm.cli import cli, emit_json, json_option, pass_obj


@cli.group()
def apikey():
    """API keys for Open311 clients (POST needs one; each key is tied to a channel)."""


@apikey.command("add")
@click.option("--name", required=True, help="Who the key is for, e.g. \"KC mobile app\".")
@click.option("--channel", required=True, help="Channel of the cases made with the key: app, web, ...")
@click.option("--scope", type=click.Choice(["own", "all"]), default="own", show_default=True,
              help="Cases the key may post updates to: those it created, or all (a partner's system).")
@pass_obj
def add(obj, name, channel, scope):
    """Issue a key. It is printed once; only its SHA-256 is stored."""
    from civiccrm.services import apikeys

    key, secret = apikeys.add(obj.deployment, name=name, channel=channel, scope=scope)
    click.echo(f"API key {key.id} for {key.name!r} (channel {key.channel}, updates to {key.scope} cases):")
    click.echo(secret)
    click.echo("Keep it now: it cannot be shown again.", err=True)


@apikey.command("list")
@json_option
@pass_obj
def list_(obj, as_json):
    """List issued keys (never the keys themselves)."""
    from civiccrm.services import apikeys

    keys = apikeys.list_keys(obj.deployment)
    if as_json:
        emit_json([{"id": k.id, "name": k.name, "channel": k.channel, "scope": k.scope, "prefix": k.prefix,
                    "created_at": k.created_at, "revoked_at": k.revoked_at, "active": k.active} for k in keys])
        return
    if not keys:
        click.echo("No API keys (`civiccrm apikey add --name NAME --channel app` issues one).")
    for k in keys:
        state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}Z"
        click.echo(f"{k.id:>4}  {k.prefix}…  {k.channel:<8} {k.scope:<4} {state:<24} {k.name}")


@apikey.command()
@click.argument("key_id", type=int)
@pass_obj
def revoke(obj, key_id):
    """Revoke key KEY_ID (from `civiccrm apikey list`)."""
    from civiccrm.services import apikeys

    key = apikeys.revoke(obj.deployment, key_id)
    click.echo(f"Revoked API key {key.id} ({key.name}).")
