"""`civiccrm privacy redact | purge`: remove a person's contact data on request or after the retention period."""

import click

from civiccrm.cli import cli, emit_json, json_option, pass_obj


@cli.group()
def privacy():
    """Personal data: redaction on request and the retention purge (cases and figures stay)."""


def _report(removed, as_json, verb):
    if as_json:
        emit_json({"customers": removed.customers, "cases": list(removed.cases)})
    else:
        click.echo(f"{verb} the contact data of {removed.customers} people on {len(removed.cases)} cases")


@privacy.command()
@click.option("--email", help="The person's e-mail address.")
@click.option("--phone", help="The person's phone number (any punctuation).")
@click.option("--case", "tracking_number", metavar="TRACKING_NUMBER", help="A case the person raised.")
@click.option("--reason", required=True, help="Why (the request's reference); kept in each case's history.")
@json_option
@pass_obj
def redact(obj, email, phone, tracking_number, reason, as_json):
    """Remove one person's name, e-mail, phone and survey addresses; each case records that it happened."""
    from civiccrm.services import privacy as privacy_service

    removed = privacy_service.redact(obj.deployment, email=email, phone=phone, tracking_number=tracking_number,
                                     reason=reason, actor=obj.actor)
    _report(removed, as_json, "removed")


@privacy.command()
@click.option("--years", type=float, help="Retention period: contacts whose cases all closed longer ago go "
              "[default: the profile's [privacy] retention_years].")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@json_option
@pass_obj
def purge(obj, years, dry_run, as_json):
    """Remove the contact data of everyone whose cases all closed more than --years ago (by default the
    profile's [privacy] retention_years)."""
    from civiccrm.services import privacy as privacy_service

    removed = privacy_service.purge(obj.deployment, years=years, actor=obj.actor, dry_run=dry_run)
    _report(removed, as_json, "would remove" if dry_run else "removed")
