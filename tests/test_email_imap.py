"""`civiccrm email poll --imap` against a real IMAP4rev1 server on loopback (pymap, in-memory backend):
the Maildir fixture set files exactly as `--maildir` does, nothing is taken twice, bad logins and
unreachable servers are clear CLI errors, and one malformed message does not stop the rest."""

import imaplib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from civiccrm.cli import cli
from civiccrm.services import cases
from civiccrm.store.tables import case_attachments_table
from civiccrm_plugins.email_inbound import poll_imap
from mail_helpers import free_port

MAILDIR = Path(__file__).parent / "data" / "maildir"
USER, PASSWORD = "311@kcmo.test", "imap-test-password"
GARBAGE = b"\x00\x01\x02 not a mail at all"


@pytest.fixture(scope="module")
def imap_server():
    """pymap's IMAP server (``pymap --no-tls dict``) on a free loopback port, one for the module."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from pymap.main import main; main()", "--host", "127.0.0.1", "--port", str(port), "--no-tls",
         "dict", "--demo-user", USER, "--demo-password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"pymap exited: {process.communicate()[0]!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"pymap does not listen on {port}") from None
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)


def _client(port: int) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    return client


@pytest.fixture
def inbox(imap_server):
    """INBOX emptied, then the Maildir fixture set appended (oldest first) with a non-mail in the middle."""
    client = _client(imap_server)
    client.store("1:*", "+FLAGS", "(\\Deleted)")
    client.expunge()
    names = sorted(p.name for p in (MAILDIR / "new").iterdir())
    for n, name in enumerate(names):
        if n == 3:
            assert client.append("INBOX", None, None, GARBAGE)[0] == "OK"
        assert client.append("INBOX", None, None, (MAILDIR / "new" / name).read_bytes())[0] == "OK"
    client.logout()
    return imap_server


def _unseen(port: int) -> list[bytes]:
    client = _client(port)
    try:
        return client.uid("SEARCH", None, "UNSEEN")[1][0].split()
    finally:
        client.logout()


def _cli(database_url, *args, password=PASSWORD):
    return CliRunner(env={"CIVICCRM_IMAP_PASSWORD": password}).invoke(cli, ["--db", database_url, "email", "poll", *args])


def test_poll_imap_files_the_fixture_set_like_maildir_and_takes_nothing_twice(deployment, database_url, inbox,
                                                                                monkeypatch):
    monkeypatch.setenv("CIVICCRM_IMAP_PASSWORD", PASSWORD)
    deployment.profile.settings["plugins"]["email_inbound"] = {"max_attachment_bytes": 100 * 1024}
    results = poll_imap(deployment, f"imap://{USER.replace('@', '%40')}@127.0.0.1:{inbox}")
    # the same outcomes as tests/test_email_inbound.py::test_poll_a_maildir, the non-mail refused among them
    assert [r.outcome for r in results] == ["triage", "triage", "case", "refused", "ignored", "bounce", "note",
                                            "triage"]
    pothole, basura, graffiti = (r.tracking_number for r in results[:3])
    assert results[6].tracking_number == pothole
    assert cases.history(deployment, pothole)[-1].note == "It is getting bigger; a car lost a tire this morning."
    assert cases.get(deployment, graffiti).service_code == "graffiti-on-city-property"
    assert "No recogieron mi basura" in cases.get(deployment, basura).description
    assert "huge.bin" in results[2].reason and "over the limit" in results[2].reason
    assert results[3].reason  # the non-mail is refused with its reason, and the rest are filed
    assert any("unreadable" in r.reason for r in results[7:])
    with deployment.engine.connect() as conn:
        attachments = conn.execute(select(case_attachments_table)).all()
    assert [(a.filename, a.content_type) for a in attachments] == [("bridge.png", "image/png")]
    assert _unseen(inbox) == []  # every message marked \Seen on the server

    again = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{inbox}")
    assert again.exit_code == 0, again.output
    assert "0 message(s): nothing new" in again.output


def test_a_message_seen_but_filed_before_is_not_filed_twice(deployment, database_url, inbox):
    """A poll that died after filing and before marking the message seen: the next one takes it again,
    and the Message-ID it was logged under keeps it from becoming a second case."""
    first = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{inbox}")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("8 message(s): ")
    client = _client(inbox)
    client.store("1:*", "-FLAGS", "(\\Seen)")
    client.logout()
    with deployment.engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM cases").scalar()
    second = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{inbox}")
    assert second.exit_code == 0, second.output
    assert "duplicate" in second.output
    with deployment.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == before
    assert _unseen(inbox) == []


def test_bad_login_unreachable_server_and_bad_folder_are_clear_cli_errors(sqlite_deployment, imap_server):
    database_url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    bad_login = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{imap_server}", password="wrong")
    closed = free_port()
    unreachable = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{closed}")
    no_password = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{imap_server}", password=None)
    no_folder = _cli(database_url, "--imap", f"imap://{USER}@127.0.0.1:{imap_server}", "--folder", "No Such")
    bad_url = _cli(database_url, "--imap", "http://127.0.0.1/")
    for result, expected in [(bad_login, "AUTHENTICATIONFAILED"), (unreachable, f"127.0.0.1:{closed}"),
                             (no_password, "CIVICCRM_IMAP_PASSWORD"), (no_folder, "'No Such'"),
                             (bad_url, "expected imaps://user@host")]:
        assert result.exit_code == 1, result.output
        assert expected in result.output and "Traceback" not in result.output
        assert "--imap" in result.output or "--folder" in result.output
    assert "b'" not in bad_login.output  # the server's words, not a bytes repr


def test_a_message_that_cannot_be_filed_now_stays_unseen_and_the_rest_go_on(sqlite_deployment, inbox, monkeypatch):
    """An unexpected failure on one message (here the database refusing it) leaves it unseen on the server,
    files the others, and the CLI exits non-zero saying so; the next poll takes it."""
    import civiccrm_plugins.email_inbound as email_inbound

    real = email_inbound.receive_bytes

    def failing(deployment, raw, **kwargs):
        if b"Pothole on Main Street" in raw:
            raise OSError("database is locked")
        return real(deployment, raw, **kwargs)

    url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(email_inbound, "receive_bytes", failing)
    first = _cli(url, "--imap", f"imap://{USER}@127.0.0.1:{inbox}")
    assert first.exit_code == 1 and "Traceback" not in first.output
    assert "failed: message UID" in first.output and "database is locked" in first.output
    assert "left for the next poll" in first.output
    assert len(_unseen(inbox)) == 1
    monkeypatch.setattr(email_inbound, "receive_bytes", real)
    second = _cli(url, "--imap", f"imap://{USER}@127.0.0.1:{inbox}")
    assert second.exit_code == 0 and second.output.startswith("1 message(s): 1 triage")
    assert _unseen(inbox) == []
