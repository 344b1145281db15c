"""Set-up commands: init, db upgrade, cities, plugins, types, channels."""

import click

from civiccrm import plugins
from civiccrm.cli import cli, emit_json, json_option, pass_obj


@cli.command()
@click.option("--city", required=True, help="City profile slug (see `civiccrm cities`) or a profile folder.")
@pass_obj
def init(obj, city):
    """Create (or upgrade) the database and load a city profile into it."""
    from civiccrm.services.deployment import init_deployment

    deployment = init_deployment(obj.db, city)
    profile = deployment.profile
    click.echo(
        f"Initialised {deployment.engine.url.render_as_string(hide_password=True)} for {profile.name}: "
        f"{len(profile.taxonomy.departments)} departments, {len(profile.taxonomy.work_groups)} work groups, "
        f"{len(profile.taxonomy.service_types)} service types, {len(profile.city_map.districts)} districts"
    )


@cli.group()
def db():
    """Database schema commands."""


@db.command()
@pass_obj
def upgrade(obj):
    """Apply pending Alembic migrations."""
    from civiccrm.store import migrate
    from civiccrm.store.db import make_engine

    engine = make_engine(obj.db)
    migrate.upgrade(engine)
    click.echo(f"Database at revision {migrate.current(engine)}")


@db.command()
@pass_obj
def current(obj):
    """Print the schema revision of the database."""
    from civiccrm.store import migrate
    from civiccrm.store.db import make_engine

    click.echo(migrate.current(make_engine(obj.db)) or "empty (run `civiccrm db upgrade`)")


@cli.command()
@json_option
def cities(as_json):
    """List the city profiles that are installed (a broken one is named with its error; exit 1)."""
    from civiccrm.errors import CivicError
    from civiccrm.profiles import load_profile

    rows, broken = [], []
    for slug, path in sorted(plugins.city_folders().items()):
        try:
            profile = load_profile(path)
        except CivicError as exc:
            broken.append(f"city {slug}: {exc}")
            rows.append({"slug": slug, "path": str(path), "error": str(exc)})
            continue
        rows.append({
            "slug": slug, "name": profile.name, "timezone": profile.timezone, "path": str(path),
            "service_types": len(profile.taxonomy.service_types), "districts": len(profile.city_map.districts),
        })
    if as_json:
        emit_json(rows)
    else:
        for row in rows:
            if "error" not in row:
                click.echo(f"{row['slug']:<20} {row['name']} ({row['timezone']}, {row['service_types']} service types, "
                           f"{row['districts']} districts)")
    if broken:
        for line in broken[:-1]:
            click.echo(f"Error: {line}", err=True)
        raise click.ClickException(broken[-1])


@cli.command("plugins")
@json_option
def plugins_command(as_json):
    """List loaded plugins with their versions and hooks."""
    rows = plugins.describe_plugins()
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']} ({row['package']} {row['version']}): {', '.join(row['hooks'])}")


@cli.command()
@click.option("--search", help="Only types whose name, code or category contains this text.")
@json_option
@pass_obj
def types(obj, search, as_json):
    """List the city's service types (code, name, owner, time-frame)."""
    taxonomy = obj.deployment.profile.taxonomy
    rows = []
    for st in sorted(taxonomy.service_types.values(), key=lambda s: s.name.casefold()):
        text = f"{st.code} {st.name} {st.category or ''}".casefold()
        if search and search.casefold() not in text:
            continue
        rows.append({"code": st.code, "name": st.name, "category": st.category, "type": st.type,
                     "detail": st.detail, "department": st.department, "work_group": st.work_group,
                     "sla_target": st.sla_target, "sla_basis": st.sla_basis, "sla_source": st.sla_source})
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['code']:<45} {row['name']} -> {row['department']} ({row['sla_target']:g} {row['sla_basis'].replace('_', ' ')})")


@cli.command()
@json_option
def channels(as_json):
    """List the registered channels."""
    rows = [{"code": c.code, "name": c.name, "inbound": c.inbound, "outbound": c.outbound}
            for c in plugins.channels().values()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['code']:<10} {row['name']}")


@cli.group()
def hooks():
    """Event hooks that failed, and retrying them."""


@hooks.command("failed")
@click.option("--plugin", help="Only this plugin's failures.")
@json_option
@pass_obj
def hooks_failed(obj, plugin, as_json):
    """List failed event hooks not yet retried, oldest first."""
    from civiccrm.services.hook_retry import pending_failures

    tz = obj.deployment.profile.tz
    rows = [{"id": f.id, "case": f.tracking_number, "plugin": f.plugin, "hook": f.hook,
             "at": f.at.astimezone(tz), "error": f.note} for f in pending_failures(obj.deployment, plugin=plugin)]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:>8} {row['at']:%Y-%m-%d %H:%M} {row['case']:<16} {row['plugin']} {row['hook']}: {row['error']}")
    if not rows:
        click.echo("no failed hooks waiting for a retry", err=True)


@hooks.command("retry")
@click.option("--plugin", help="Only this plugin's failures.")
@click.option("--limit", type=click.IntRange(1), help="At most this many failures.")
@json_option
@pass_obj
def hooks_retry(obj, plugin, limit, as_json):
    """Call failed event hooks again (the case as it is now, the original event); safe to run from cron."""
    from civiccrm.services.hook_retry import retry_failures

    result = retry_failures(obj.deployment, plugin=plugin, limit=limit)
    if as_json:
        emit_json({"retried": result.retried, "failed_again": result.failed_again, "skipped": list(result.skipped)})
        return
    click.echo(f"retried {result.retried}, failed again {result.failed_again}, skipped {len(result.skipped)}")
    for reason in result.skipped:
        click.echo(f"skipped: {reason}", err=True)
