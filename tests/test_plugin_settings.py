"""One reader of [plugins.<name>] for every built-in plugin: defaults, the profile's table, the environment."""

import attrs
import pytest

from civiccrm.errors import CivicError
from civiccrm.profiles.settings import plugin_settings
from civiccrm.services.surveys import invitations
from civiccrm_plugins import council_pack, email_channel


@attrs.frozen
class Profile:
    settings: dict


@attrs.frozen
class Deployment:
    profile: Profile


def test_defaults_then_table_then_environment(monkeypatch):
    profile = Profile({"plugins": {"demo": {"a": 2}}})
    assert plugin_settings(profile, "demo", {"a": 1, "b": "x"}) == {"a": 2, "b": "x"}
    monkeypatch.setenv("DEMO_B", "from-env")
    assert plugin_settings(profile, "demo", {"a": 1, "b": "x"}, env={"b": "DEMO_B"}) == {"a": 2, "b": "from-env"}
    assert plugin_settings(None, "demo", {"a": 1}) == {"a": 1}


@pytest.mark.parametrize("name, read", [
    ("email", lambda profile: email_channel.smtp_settings(profile)),
    ("survey_dispatch", lambda profile: invitations.settings(Deployment(profile))),
    ("council_monthly", lambda profile: council_pack.settings(Deployment(profile))),
])
def test_every_built_in_plugin_refuses_an_unknown_key(name, read):
    profile = Profile({"plugins": {name: {"password": "hunter2"}}})
    with pytest.raises(CivicError, match=rf"plugins.{name}: unknown key 'password'; expected one of "):
        read(profile)


def test_smtp_settings_keep_their_rules(monkeypatch):
    for variable in (*email_channel.ENV.values(), "CIVICCRM_SMTP_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    profile = Profile({"plugins": {"email": {"host": "mail.city.test", "port": 2525}}})
    assert email_channel.smtp_settings(profile) == {"host": "mail.city.test", "port": 2525, "from": "311@mail.city.test",
                                                    "user": None, "password": None}
    monkeypatch.setenv("CIVICCRM_SMTP_PORT", "twenty")
    with pytest.raises(CivicError, match="CIVICCRM_SMTP_PORT: 'twenty' is not a port number"):
        email_channel.smtp_settings(profile)
