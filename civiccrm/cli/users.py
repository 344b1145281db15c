"""``civiccrm user add | list | disable | enable | role | password | bootstrap``: staff users of the admin."""

import sys

import click

from civiccrm.cli import cli, emit_json, json_option, pass_obj
from civiccrm.domain.users import Role, parse_role
from civiccrm.errors import CivicError

ROLE_HELP = "One of " + ", ".join(r.value for r in Role) + "."


def _role(ctx, param, value):
    return None if value is None else parse_role(value)


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        raise CivicError("password: give --password-stdin and the password on standard input "
                         "(or --one-time-password to have one generated)", field="password")
    line = sys.stdin.readline()
    if not line:
        raise CivicError("password: nothing on standard input", field="password")
    return line.rstrip("\r\n")


def _password(password_stdin: bool, one_time: bool) -> str:
    from civiccrm.services import users

    if password_stdin and one_time:
        raise CivicError("password: give --password-stdin or --one-time-password, not both", field="password")
    return users.generate_password() if one_time else _read_password(password_stdin)


def _describe(user) -> str:
    scope = ", ".join([*user.departments, *user.work_groups])
    state = "disabled" if user.disabled else "active"
    return f"{user.username:<20} {user.role.value:<18} {state:<9} {user.language}  {scope}"


@cli.group()
def user():
    """Staff users of the admin screens and their roles."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, callback=_role, help=ROLE_HELP)
@click.option("--department", "departments", multiple=True, help="A department the user serves (repeatable).")
@click.option("--work-group", "work_groups", multiple=True, help="A work group the user serves (repeatable).")
@click.option("--language", default="en", show_default=True, help="Language of the admin screens: en or es.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--one-time-password", "one_time", is_flag=True,
              help="Generate a password, print it once; the first login asks for a new one.")
@pass_obj
def add(obj, username, role, departments, work_groups, language, password_stdin, one_time):
    """Add a staff user USERNAME (passwords: 12+ characters, not a common one)."""
    from civiccrm.services import users

    password = _password(password_stdin, one_time)
    created = users.add_user(obj.deployment, username, password, role, departments=departments,
                             work_groups=work_groups, language=language, one_time=one_time)
    click.echo(f"Added {created.username} ({created.role.value}).")
    if one_time:
        click.echo(f"One-time password: {password}")


@user.command("list")
@json_option
@pass_obj
def list_(obj, as_json):
    """List staff users (never their passwords)."""
    from civiccrm.services import users

    found = users.list_users(obj.deployment)
    if as_json:
        emit_json([{"username": u.username, "role": u.role.value, "departments": list(u.departments),
                    "work_groups": list(u.work_groups), "language": u.language, "disabled": u.disabled}
                   for u in found])
        return
    if not found:
        click.echo("No users (`civiccrm user add NAME --role administrator --password-stdin` adds one).")
    for u in found:
        click.echo(_describe(u))


@user.command()
@click.argument("username")
@pass_obj
def disable(obj, username):
    """Disable USERNAME: no more logins, and every open session is logged out now."""
    from civiccrm.services import users

    users.disable_user(obj.deployment, username)
    click.echo(f"Disabled {username}; their sessions are logged out.")


@user.command()
@click.argument("username")
@pass_obj
def enable(obj, username):
    """Let a disabled USERNAME log in again."""
    from civiccrm.services import users

    users.enable_user(obj.deployment, username)
    click.echo(f"Enabled {username}.")


@user.command()
@click.argument("username")
@click.argument("role", callback=_role)
@click.option("--department", "departments", multiple=True, help="A department the user serves (repeatable).")
@click.option("--work-group", "work_groups", multiple=True, help="A work group the user serves (repeatable).")
@pass_obj
def role(obj, username, role, departments, work_groups):
    """Give USERNAME the role ROLE (and the departments and work groups it serves)."""
    from civiccrm.services import users

    changed = users.set_role(obj.deployment, username, role, departments=departments, work_groups=work_groups)
    click.echo(_describe(changed))


@user.command()
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of standard input.")
@click.option("--one-time-password", "one_time", is_flag=True,
              help="Generate a password, print it once; the next login asks for a new one.")
@pass_obj
def password(obj, username, password_stdin, one_time):
    """Set USERNAME's password; every session of theirs is logged out."""
    from civiccrm.services import users

    new = _password(password_stdin, one_time)
    users.set_password(obj.deployment, username, new, one_time=one_time)
    click.echo(f"Password of {username} changed; their sessions are logged out.")
    if one_time:
        click.echo(f"One-time password: {new}")


@user.command()
@click.argument("username", default="admin")
@click.option("--url", default="http://127.0.0.1:8311/admin/", show_default=True, help="The admin URL to print.")
@pass_obj
def bootstrap(obj, username, url):
    """Make USERNAME an administrator with a new one-time password (adding it if missing); print both
    and the admin URL (``make run`` does this)."""
    from civiccrm.services import users

    password = users.generate_password()
    try:
        existing = users.get_user(obj.deployment, username)
    except CivicError:
        existing = None
    if existing is None:
        users.add_user(obj.deployment, username, password, Role.ADMINISTRATOR, one_time=True)
    else:
        if existing.role is not Role.ADMINISTRATOR:
            raise CivicError(f"username: {username!r} exists with role {existing.role.value}; choose another",
                             field="username")
        users.enable_user(obj.deployment, username)
        users.set_password(obj.deployment, username, password, one_time=True)
    click.echo(f"Admin: {url}  user {username}  one-time password {password}")
