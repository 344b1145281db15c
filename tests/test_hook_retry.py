"""Failed event hooks are listed and retried: history stays append-only, nothing is lost."""

import json

from click.testing import CliRunner

from civiccrm import hookimpl
from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.services import cases as case_service
from civiccrm.services.hook_retry import pending_failures, retry_failures

POINT = Location(latitude=39.102738, longitude=-94.600134)


class FlakyWorkOrders:
    """Fails until ``up`` is set, then records what it was given."""

    def __init__(self):
        self.up = False
        self.seen = []

    @hookimpl
    def case_created(self, case, event):
        if not self.up:
            raise ConnectionError("work-order system unreachable")
        self.seen.append((case.tracking_number, event.kind, event.changes["status"]))


def _intake(deployment):
    return case_service.intake(deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                                     channel="phone", location=POINT))


def test_a_failed_hook_is_retried_until_it_works(deployment):
    plugin = FlakyWorkOrders()
    deployment.pm.register(plugin, name="flaky-work-orders")
    try:
        case = _intake(deployment)
        [failure] = pending_failures(deployment)
        assert (failure.plugin, failure.hook, failure.tracking_number) == ("flaky-work-orders", "case_created",
                                                                          case.tracking_number)
        assert "unreachable" in failure.note

        again = retry_failures(deployment)  # still down: a new failure answers the old one
        assert (again.retried, again.failed_again) == (0, 1)
        [still] = pending_failures(deployment)
        assert still.id != failure.id

        plugin.up = True
        done = retry_failures(deployment)
        assert (done.retried, done.failed_again, done.skipped) == (1, 0, ())
        assert plugin.seen == [(case.tracking_number, "created", [None, "new"])]
        assert pending_failures(deployment) == []
        assert retry_failures(deployment).retried == 0  # nothing left: a second run does nothing
        kinds = [e.kind for e in case_service.history(deployment, case.tracking_number)]
        assert kinds == ["created", "hook_failed", "hook_failed", "hook_retried"]
    finally:
        deployment.pm.unregister(name="flaky-work-orders")


def test_failures_of_a_plugin_no_longer_loaded_are_kept(deployment):
    plugin = FlakyWorkOrders()
    deployment.pm.register(plugin, name="gone-plugin")
    try:
        _intake(deployment)
    finally:
        deployment.pm.unregister(name="gone-plugin")
    result = retry_failures(deployment)
    assert result.retried == 0 and "gone-plugin" in result.skipped[0]
    assert len(pending_failures(deployment)) == 1
    assert pending_failures(deployment, plugin="other") == []


def test_cli_lists_and_retries(deployment, database_url, monkeypatch):
    from civiccrm.services import deployment as deployment_module

    monkeypatch.setattr(deployment_module, "open_deployment", lambda url=None: deployment)
    plugin = FlakyWorkOrders()
    deployment.pm.register(plugin, name="flaky-work-orders")
    try:
        case = _intake(deployment)
        runner = CliRunner()
        listed = runner.invoke(cli, ["--db", database_url, "hooks", "failed", "--json"])
        assert listed.exit_code == 0, listed.output
        [row] = json.loads(listed.stdout)
        assert row["case"] == case.tracking_number and row["plugin"] == "flaky-work-orders"
        plugin.up = True
        retried = runner.invoke(cli, ["--db", database_url, "hooks", "retry", "--plugin", "flaky-work-orders"])
        assert retried.exit_code == 0 and "retried 1, failed again 0" in retried.stdout
        assert json.loads(runner.invoke(cli, ["--db", database_url, "hooks", "failed", "--json"]).stdout) == []
    finally:
        deployment.pm.unregister(name="flaky-work-orders")
