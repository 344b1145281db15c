"""`civiccrm report send PACK --to ADDRESS`: the pack's HTML through the delivery outbox to a real SMTP server."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.services import outbox

sys.path.insert(0, str(Path(__file__).parent))
from mail_helpers import SmtpServer, SmtpSink, use_smtp  # noqa: E402
from test_report_formats import add_cases, kc_cases  # noqa: E402


@pytest.fixture
def sink(monkeypatch):
    handler = SmtpSink()
    with SmtpServer(handler) as server:
        use_smtp(monkeypatch, server.port)
        yield handler


def test_report_send_queues_once_and_deliver_sends_it(sqlite_deployment, sink):
    add_cases(sqlite_deployment, kc_cases())
    url = str(sqlite_deployment.engine.url)
    runner = CliRunner()
    args = ["--db", url, "report", "send", "kcstat", "--month", "2019-07", "--to", "mayor@example.org"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "queued for mayor@example.org" in first.output
    again = runner.invoke(cli, args)
    assert again.output.split("(outbox #")[1] == first.output.split("(outbox #")[1]  # the same row
    result = outbox.run(sqlite_deployment, once=True)
    assert (result.sent, result.failed) == (1, 0)
    [message] = sink.messages
    assert message["To"] == "mayor@example.org"
    assert message["Subject"] == "kcstat: Kansas City, Missouri, 2019-07-01 to 2019-07-31"
    html = message.get_body(("html",)).get_content()
    assert "<svg" in html and "311 matrix" in html and "KCStat: Kansas City, Missouri" in html
    assert "civiccrm report render kcstat" in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize("args, message", [
    (["--to", "not-an-address", "--month", "2019-07"], "--to: 'not-an-address' is not an e-mail address"),
    (["--to", "mayor@example.org"], "report send: give the period"),
])
def test_report_send_refuses_bad_input(sqlite_deployment, args, message):
    result = CliRunner().invoke(cli, ["--db", str(sqlite_deployment.engine.url), "report", "send", "kcstat", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
