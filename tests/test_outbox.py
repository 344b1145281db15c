"""The delivery outbox: enqueue in the caller's transaction, deliver over real SMTP, retry, dead letters,
several workers at once and a worker killed mid-batch."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from civiccrm import hookimpl
from civiccrm.cli import cli
from civiccrm.domain.outbox import Deliverer, DeliveryRefused, DeliveryState, MessagePayload, RetryPolicy
from civiccrm.errors import CivicError
from civiccrm.services import outbox
from civiccrm.store.tables import outbox_attempts_table, outbox_table
from mail_helpers import SmtpServer, SmtpSink, free_port, kill_after, use_smtp


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def _message(n: int, address: str | None = None) -> MessagePayload:
    return MessagePayload(channel="email", address=address or f"resident{n}@example.org",
                          subject=f"Your request {n}", body=f"Hello {n}", html=f"<p>Hello {n}</p>")


def _enqueue_messages(deployment, count: int, **kwargs) -> list[int]:
    with deployment.engine.begin() as conn:
        return [outbox.enqueue_message(connection_or_session=conn, message=_message(n), idempotency_key=f"test:{n}",
                                       subject=f"case:{n}", **kwargs) for n in range(count)]


def _rows(deployment):
    with deployment.engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(outbox_table))}


def _attempts(deployment):
    with deployment.engine.connect() as conn:
        return conn.execute(select(outbox_attempts_table).order_by(outbox_attempts_table.c.id)).all()


@pytest.fixture
def sink(monkeypatch):
    handler = SmtpSink()
    with SmtpServer(handler) as server:
        use_smtp(monkeypatch, server.port)
        yield handler


def test_enqueue_is_part_of_the_callers_transaction(deployment):
    with pytest.raises(RuntimeError):
        with deployment.engine.begin() as conn:
            outbox.enqueue_message(connection_or_session=conn, message=_message(1), idempotency_key="k1")
            raise RuntimeError("the change failed")
    assert _rows(deployment) == {}
    with deployment.session() as s:
        first = outbox.enqueue_message(connection_or_session=s, message=_message(1), idempotency_key="k1")
        s.commit()
    with deployment.session() as s:
        again = outbox.enqueue_message(connection_or_session=s, message=_message(2), idempotency_key="k1")
        s.commit()
    assert again == first
    rows = _rows(deployment)
    assert list(rows) == [first]
    assert rows[first].kind == "message:email" and rows[first].state == "pending"
    assert json.loads(rows[first].payload)["address"] == "resident1@example.org"


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "Message Email"}, "kind"),
    ({"destination": ""}, "destination"),
    ({"idempotency_key": "x" * 201}, "idempotency_key"),
    ({"payload": {"when": datetime(2026, 1, 1, tzinfo=timezone.utc)}}, "payload"),
    ({"payload": ["not", "a", "dict"]}, "payload"),
    ({"max_attempts": 0}, "max_attempts"),
])
def test_enqueue_refuses_bad_values_by_name(sqlite_deployment, kwargs, field):
    values = {"kind": "message:email", "destination": "a@example.org", "payload": {"body": "x"},
              "idempotency_key": "k"} | kwargs
    with sqlite_deployment.engine.begin() as conn:
        with pytest.raises(CivicError, match=rf"^{field}:"):
            outbox.enqueue(connection_or_session=conn, **values)
    assert _rows(sqlite_deployment) == {}


def test_deliver_sends_over_smtp_and_records_the_attempt(deployment, sink):
    ids = _enqueue_messages(deployment, 3)
    result = outbox.run(deployment, once=True)
    assert (result.sent, result.failed, result.dead) == (3, 0, 0)
    assert sorted(m["To"] for m in sink.messages) == [f"resident{n}@example.org" for n in range(3)]
    first = next(m for m in sink.messages if m["To"] == "resident0@example.org")
    assert first["Auto-Submitted"] == "auto-generated" and first["X-Loop"] == "311@kcmo.test"
    assert first.get_body(("html",)).get_content().strip() == "<p>Hello 0</p>"
    rows = _rows(deployment)
    assert {rows[i].state for i in ids} == {"sent"}
    assert rows[ids[0]].receipt == first["Message-ID"]
    assert [(a.outbox_id, a.attempt, a.outcome) for a in _attempts(deployment)] == [(i, 1, "sent") for i in ids]
    assert outbox.run(deployment, once=True).claimed == 0  # nothing is sent twice


def test_failures_back_off_then_go_dead_and_retry_revives_them(deployment, monkeypatch):
    clock = Clock()
    deployment.clock = clock
    port = free_port()
    use_smtp(monkeypatch, port)  # nobody listens yet
    with deployment.engine.begin() as conn:
        row_id = outbox.enqueue_message(connection_or_session=conn, message=_message(0), idempotency_key="k",
                                        now=clock.now, max_attempts=3)
    policy = RetryPolicy(base_seconds=60, factor=2)
    waits = []
    for _ in range(3):
        result = outbox.deliver_batch(deployment, worker="w1", policy=policy)
        assert result.claimed == 1
        row = _rows(deployment)[row_id]
        if row.state == "pending":
            waits.append(row.next_attempt_at - clock.now)
            assert outbox.deliver_batch(deployment, worker="w1", policy=policy).claimed == 0  # not due yet
            clock.now = row.next_attempt_at
    assert waits == [timedelta(seconds=60), timedelta(seconds=120)]
    row = _rows(deployment)[row_id]
    assert row.state == "dead" and "ConnectionRefusedError" in row.last_error and "gave up after 3 tries" in row.last_error
    assert [a.outcome for a in _attempts(deployment)] == ["failed", "failed", "failed"]
    assert all("ConnectionRefusedError" in a.reason for a in _attempts(deployment))

    runner = CliRunner()
    listed = runner.invoke(cli, ["--db", str(deployment.engine.url.render_as_string(hide_password=False)),
                                 "outbox", "list", "--state", "dead", "--json"])
    assert listed.exit_code == 0, listed.output
    [dead] = json.loads(listed.stdout)
    assert dead["id"] == row_id and dead["tries"] == 3 and "ConnectionRefusedError" in dead["last_error"]

    sink = SmtpSink()
    with SmtpServer(sink, port=port):
        assert outbox.retry(deployment, dead=True, actor="tester") == [row_id]
        assert outbox.deliver_batch(deployment, worker="w2", policy=policy).sent == 1
    assert len(sink.messages) == 1
    assert [a.outcome for a in _attempts(deployment)] == ["failed", "failed", "failed", "requeued", "sent"]
    assert _attempts(deployment)[3].worker == "tester"


def test_a_permanent_refusal_is_dead_at_once_with_its_reason(deployment, sink):
    sink.refuse.add("resident0@example.org")
    _enqueue_messages(deployment, 2)
    result = outbox.run(deployment, once=True)
    assert (result.sent, result.dead) == (1, 1)
    dead = outbox.entries(deployment, state=DeliveryState.DEAD)
    assert [e.destination for e in dead] == ["resident0@example.org"]
    assert "550" in dead[0].last_error
    _, tries = outbox.entry(deployment, dead[0].id)
    assert [t["outcome"] for t in tries] == ["refused"]


class Flaky:
    """A deliverer for the family ``workorders`` (``integration`` is the integrations service's own) that fails its first try of each row."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def register_deliverers(self, register):
        register(Deliverer("workorders", self.deliver, "test integration calls"))

    def deliver(self, deployment, item):
        self.calls.append((item.kind, item.destination, item.attempt, item.idempotency_key))
        if item.payload.get("refuse"):
            raise DeliveryRefused("the work-order system says the case does not exist")
        if item.attempt == 1:
            raise TimeoutError("work-order system did not answer")
        return f"WO-{item.id}"


def test_plugins_deliver_their_kinds_per_destination(deployment):
    plugin = Flaky()
    deployment.pm.register(plugin, name="test-flaky")
    try:
        with deployment.session() as s:
            for destination in ("streets", "water"):
                outbox.enqueue(connection_or_session=s, kind="workorders:acme", destination=destination,
                               payload={"case": "2026-000001"}, idempotency_key=f"wo:2026-000001:{destination}",
                               subject="case:2026-000001", max_attempts=2)
            outbox.enqueue(connection_or_session=s, kind="nobody:here", destination="x", payload={},
                           idempotency_key="orphan", max_attempts=1)
            s.commit()
        policy = RetryPolicy(base_seconds=0)
        outbox.deliver_batch(deployment, worker="w", policy=policy)
        with deployment.engine.connect() as conn:
            states = outbox.destination_states(conn, "case:2026-000001")
        assert states == {("workorders:acme", "streets"): DeliveryState.PENDING,
                          ("workorders:acme", "water"): DeliveryState.PENDING}
        outbox.deliver_batch(deployment, worker="w", policy=policy)
        with deployment.engine.connect() as conn:
            assert set(outbox.destination_states(conn, "case:2026-000001").values()) == {DeliveryState.SENT}
        assert [c[2] for c in plugin.calls] == [1, 1, 2, 2]
        assert {c[3] for c in plugin.calls} == {"wo:2026-000001:streets", "wo:2026-000001:water"}
        orphan = outbox.entries(deployment, kind="nobody")[0]
        assert orphan.state is DeliveryState.DEAD and "no plugin delivers the outbox kind 'nobody:here'" in orphan.last_error
    finally:
        deployment.pm.unregister(plugin)


def test_cli_bad_input_is_one_line(sqlite_deployment):
    url = sqlite_deployment.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    for args, message in ((["outbox", "retry"], "give one delivery ID or --dead"),
                          (["outbox", "list", "--state", "lost"], "--state: 'lost' is not one of"),
                          (["outbox", "show", "99"], "no delivery 99")):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    _enqueue_messages(sqlite_deployment, 1)
    sent = outbox.entries(sqlite_deployment)[0]
    with sqlite_deployment.engine.begin() as conn:
        conn.execute(outbox_table.update().values(state="sent"))
    result = runner.invoke(cli, ["--db", url, "outbox", "retry", str(sent.id)])
    assert result.exit_code == 1 and "is sent; only dead or failed deliveries are retried" in result.output
    result = runner.invoke(cli, ["--db", url, "deliver", "--once", "--concurrency", "0"])
    assert result.exit_code == 2 and "--concurrency" in result.output and "Traceback" not in result.output
    with pytest.raises(CivicError, match="--concurrency: 0; expected a whole number"):
        outbox.deliver_batch(sqlite_deployment, worker="t", concurrency=0)


# --- real worker processes ----------------------------------------------------------------


def _worker(url: str, port: int, *args: str) -> subprocess.Popen:
    env = os.environ | {"CIVICCRM_SMTP_HOST": "127.0.0.1", "CIVICCRM_SMTP_PORT": str(port),
                        "CIVICCRM_SMTP_FROM": "311@kcmo.test"}
    return subprocess.Popen([sys.executable, "-m", "civiccrm.cli", "--db", url, "deliver", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _expected_ids(deployment) -> dict[int, str]:
    from civiccrm_plugins.email_channel import message_id

    return {r.id: message_id(r.idempotency_key, "kcmo.test") for r in _rows(deployment).values()}


def test_several_workers_at_once_send_each_message_once(deployment):
    url = deployment.engine.url.render_as_string(hide_password=False)
    _enqueue_messages(deployment, 60)
    sink = SmtpSink(delay=0.01)
    with SmtpServer(sink) as server:
        workers = [_worker(url, server.port, "--once", "--batch", "4") for _ in range(3)]
        outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    sent_by = [int(out.split("Delivered ")[1].split(";")[0]) for out, _ in outputs]
    assert sum(sent_by) == 60
    assert sorted(sink.message_ids()) == sorted(_expected_ids(deployment).values())
    assert {r.state for r in _rows(deployment).values()} == {"sent"}
    assert sorted(a.outbox_id for a in _attempts(deployment) if a.outcome == "sent") == sorted(_rows(deployment))


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(deployment, concurrency):
    url = deployment.engine.url.render_as_string(hide_password=False)
    _enqueue_messages(deployment, 40)
    expected = _expected_ids(deployment)
    sink = SmtpSink(delay=0.05)
    with SmtpServer(sink) as server:
        kill_after(_worker(url, server.port, "--batch", "10", "--lease", "1", "--interval", "0.1",
                           "--concurrency", str(concurrency)), sink, 12)
        received = list(sink.message_ids())
        rows = _rows(deployment)
        sent = {i for i, r in rows.items() if r.state == "sent"}
        assert 12 <= len(received) < 40 and len(set(received)) == len(received)  # nothing twice
        assert all(received.count(expected[i]) == 1 for i in sent)
        unsent = set(rows) - sent
        assert {rows[i].state for i in unsent} <= {"pending", "delivering"}  # still to be sent, none lost
        in_flight = [i for i in unsent if expected[i] in received]
        assert len(in_flight) <= concurrency  # only those the worker was sending when it died

        time.sleep(1.2)  # the dead worker's lease runs out
        again = _worker(url, server.port, "--once")
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    assert {r.state for r in _rows(deployment).values()} == {"sent"}
    final = sink.message_ids()
    assert set(final) == set(expected.values())
    assert sorted(m for m in set(final) if final.count(m) > 1) == sorted(expected[i] for i in in_flight)
    lost = {a.outbox_id for a in _attempts(deployment) if a.outcome == "lost"}
    assert set(in_flight) <= lost and lost <= unsent
