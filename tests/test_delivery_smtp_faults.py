"""Sending against SMTP servers that answer the awkward way (aiosmtpd on loopback).

What a publisher or a subscriber would notice: a readable one-click
unsubscribe header, international addresses, refusals that are the
server's fault rather than the recipient's, temporary errors and busy
servers, and names that try to smuggle in headers.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from smtp_sink import Recorder, SmtpSink, free_port
from test_delivery import configure, subscribe


@pytest.fixture
def demo_home(tmp_path):
    """A workspace holding the drafted sample issue 1.1."""
    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    return home


class Server:
    """A loopback aiosmtpd server with a :class:`Recorder` (or a subclass) as its handler."""

    def __init__(self, recorder: Recorder | None = None, controller=Controller, **kwargs):
        self.recorder = recorder or Recorder()
        self.port = free_port()
        self.controller = controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> "Server":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class Scripted(Recorder):
    """Answers RCPT for chosen addresses (or everyone: key "*") and DATA with the replies given."""

    def __init__(self, rcpt: dict[str, str] | None = None, data: str = ""):
        super().__init__()
        self.rcpt, self.data = dict(rcpt or {}), data

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt.get(address.lower()) or self.rcpt.get("*")
        if reply:
            with self.lock:
                self.tried[address.lower()] += 1
            return reply
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.data:
            return self.data
        return await super().handle_DATA(server, session, envelope)


def ledger():
    from alliance_digest.db.models import Delivery

    return dict(Delivery.objects.values_list("subscriber__email", "status"))


def statuses():
    from alliance_digest.db.models import Subscriber

    return dict(Subscriber.objects.values_list("email", "status"))


# ---- List-Unsubscribe ---------------------------------------------------------------------------------

def test_list_unsubscribe_stays_literal_for_every_parser(demo_home, cli):
    """RFC 8058 one-click needs the literal URL: no RFC 2047 encoded-words, folded only after the comma."""
    with SmtpSink() as sink:
        configure(demo_home, sink.port, unsubscribe_mailto="unsubscribe@example.org")
        subscribe(active=["a.rather.long.address.for.testing@subscribers.example.com"])
        cli(demo_home, "approve", "1.1")
        assert cli(demo_home, "send", "1.1").exit_code == 0
        [(_, _, raw)] = sink.recorder.messages
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?" not in head.split("List-Unsubscribe:", 1)[1].split("\nList-Unsubscribe-Post", 1)[0]
    assert all(len(line) <= 998 for line in head.split("\r\n"))
    for policy in (email.policy.compat32, email.policy.default):
        msg = email.message_from_bytes(raw, policy=policy)
        value = re.sub(r"\r?\n[ \t]", " ", str(msg["List-Unsubscribe"]))
        links = re.findall(r"<([^>]+)>", value)
        assert len(links) == 2 and links[0].startswith("https://digest.example.org/unsubscribe/"), value
        assert links[1] == "mailto:unsubscribe@example.org?subject=unsubscribe"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
        assert links[0] in body  # the same per-recipient link as in the text


# ---- international addresses --------------------------------------------------------------------------

def test_an_internationalised_domain_is_sent_to_in_its_ascii_form(demo_home, cli):
    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        added = cli(demo_home, "subscribers", "add", "user@bücher.de", "--confirmed")
        assert added.exit_code == 0, added.output
        subscribe(active=["ann@example.com"])
        cli(demo_home, "approve", "1.1")
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert "send finished: 2 sent now" in result.output
        assert sink.recorder.received() == {"user@xn--bcher-kva.de": 1, "ann@example.com": 1}
        to = {m["To"].addresses[0].addr_spec for m in sink.recorder.parsed()}
        assert to == {"user@xn--bcher-kva.de", "ann@example.com"}
        again = cli(demo_home, "send", "1.1")
        assert again.exit_code == 0 and "0 sent now, 2 sent before" in again.output
    assert statuses()["user@bücher.de"] == "active"  # stored as given


def test_a_non_ascii_local_part_needs_smtputf8_and_never_stops_the_send(demo_home, cli):
    """Such addresses cannot be added (the validator refuses them) but may be in older data."""
    assert cli(demo_home, "subscribers", "add", "jörg@example.com", "--confirmed").exit_code == 1
    subscribe(active=["jörg@example.com", "ann@example.com", "bob@example.com"])
    cli(demo_home, "approve", "1.1")
    with Server(enable_SMTPUTF8=False) as server:
        configure(demo_home, server.port)
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert server.recorder.received() == {"ann@example.com": 1, "bob@example.com": 1}
    assert "send finished: 2 sent now, 0 sent before, 1 failed (0 bounced)" in result.output
    assert "jörg@example.com" in result.output and "SMTPUTF8" in result.output
    from alliance_digest.db.models import Delivery

    assert "does not offer SMTPUTF8" in Delivery.objects.get(subscriber__email="jörg@example.com").last_error
    assert statuses()["jörg@example.com"] == "active"  # not the subscriber's fault: not bounced
    subscribe(active=["zoë@bücher.de"])  # joins later; this server speaks SMTPUTF8
    with Server(enable_SMTPUTF8=True) as server:
        configure(demo_home, server.port)
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert server.recorder.received() == {"zoë@xn--bcher-kva.de": 1}
        [(_, _, raw)] = server.recorder.messages
        msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.SMTPUTF8)  # UTF-8 headers
        assert msg["To"].addresses[0].addr_spec == "zoë@xn--bcher-kva.de"


# ---- refusals that are not about one recipient --------------------------------------------------------

def test_a_policy_rejection_at_data_pauses_and_marks_nobody_failed(demo_home, cli):
    readers = [f"reader{i:02d}@example.com" for i in range(30)]
    subscribe(active=readers)
    cli(demo_home, "approve", "1.1")
    with Server(Scripted(data="554 5.7.1 Message rejected: policy")) as server:
        configure(demo_home, server.port)
        result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1
    assert "PAUSED" in result.output and "554 5.7.1 Message rejected: policy" in result.output
    assert "digest send 1.1" in result.output
    assert set(ledger().values()) == {"queued"} and len(ledger()) == 30
    assert set(statuses().values()) == {"active"}
    with SmtpSink() as sink:  # the cause fixed: the same command reaches everyone, once
        configure(demo_home, sink.port)
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert sink.recorder.received() == {r: 1 for r in readers}
    assert "send finished: 30 sent now" in result.output


@pytest.mark.parametrize("reply", [
    "550 5.7.1 Relaying denied: client host [127.0.0.1] unknown, authenticate first",
    "554 Relay access denied",
    "553 5.1.8 <digest@example.org>: Sender address rejected: Domain not found",
])
def test_relay_and_sender_refusals_at_rcpt_pause_without_bouncing_anyone(demo_home, cli, reply):
    subscribe(active=["ann@example.com", "bob@example.com", "cy@example.com"])
    cli(demo_home, "approve", "1.1")
    with Server(Scripted(rcpt={"*": reply})) as server:
        configure(demo_home, server.port, concurrency=1)
        result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1 and "PAUSED" in result.output and reply in result.output
    assert set(statuses().values()) == {"active"}
    assert set(ledger().values()) == {"queued"}


def test_only_recipient_specific_refusals_bounce(demo_home, cli):
    replies = {
        "gone@example.com": "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "old@example.com": "550 No such user here",
        "moved@example.com": "551 5.1.6 User has moved; no forwarding address",
        "full@example.com": "552 5.2.2 Mailbox full",
    }
    subscribe(active=[*replies, "fine@example.com"])
    cli(demo_home, "approve", "1.1")
    with Server(Scripted(rcpt=replies)) as server:
        configure(demo_home, server.port, concurrency=1)
        result = cli(demo_home, "send", "1.1")
        assert server.recorder.received() == {"fine@example.com": 1}
    assert result.exit_code == 0, result.output
    assert "1 sent now, 0 sent before, 4 failed (3 bounced)" in result.output
    assert statuses() == {"gone@example.com": "bounced", "old@example.com": "bounced", "moved@example.com": "bounced",
                          "full@example.com": "active", "fine@example.com": "active"}


def test_unexplained_refusals_of_everyone_go_back_to_the_queue_when_the_send_pauses(demo_home, cli):
    """A refusal that names no cause, for every address in a row: the server's doing, not the readers'."""
    readers = [f"reader{i:02d}@example.com" for i in range(12)]
    subscribe(active=readers)
    cli(demo_home, "approve", "1.1")
    with Server(Scripted(rcpt={"*": "550 Requested action not taken: mailbox unavailable"})) as server:
        configure(demo_home, server.port, concurrency=2, max_consecutive_errors=5)
        result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1 and "PAUSED: 5 failures in a row" in result.output
    assert set(ledger().values()) == {"queued"} and set(statuses().values()) == {"active"}
    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        assert cli(demo_home, "send", "1.1").exit_code == 0
        assert sink.recorder.received() == {r: 1 for r in readers}


# ---- temporary errors and busy servers ----------------------------------------------------------------

def test_a_temporary_error_defers_one_recipient_and_says_when_to_run_again(demo_home, cli, monkeypatch):
    """450 for one address: the others are delivered, short back-offs waited for with a line each,
    and the run ends instead of blocking for half an hour."""
    from alliance_digest import delivery, services
    from alliance_digest.db.models import Delivery
    from alliance_digest.profile import load_profile

    monkeypatch.setattr(delivery, "BACKOFF_SECONDS", (0.2, 0.2, 600, 600, 600))
    subscribe(active=["busy@example.com", "ann@example.com", "bob@example.com", "cy@example.com"])
    cli(demo_home, "approve", "1.1")
    with Server(Scripted(rcpt={"busy@example.com": "450 4.2.1 Mailbox busy, try again later"})) as server:
        configure(demo_home, server.port, concurrency=2)
        issue = services.find_issue("1.1")
        lines, stop = [], threading.Event()
        guard = threading.Timer(30, stop.set)  # the old behaviour waits for ten minutes here
        guard.start()
        started = time.monotonic()
        try:
            report = delivery.send_issue(load_profile(demo_home / "digest.toml"), issue, stop=stop,
                                         notice=lines.append)
        finally:
            guard.cancel()
        assert time.monotonic() - started < 20
        assert server.recorder.received() == {"ann@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
        assert server.recorder.tried["busy@example.com"] == 3
        assert sum("to try 1 recipient(s) again after temporary errors" in line for line in lines) >= 1
        assert "busy@example.com: 450 4.2.1 Mailbox busy" in lines[0]
        row = Delivery.objects.get(subscriber__email="busy@example.com")
        assert row.status == "queued" and row.attempts == 3 and "450 4.2.1" in row.last_error
        next_try = (row.next_attempt_at + timedelta(seconds=59)).strftime("%H:%M")
        assert not report.finished and not report.paused and report.sent == 3
        assert re.search(r"; 1 recipient deferred after temporary errors; run `digest send 1\.1` again later "
                         rf"\(next try after (\S+ )?{next_try} UTC\)$", report.summary()), report.summary()
        assert services.find_issue("1.1").send_state == "paused"
        again = cli(demo_home, "send", "1.1")  # too early: nothing is tried, and it says so at once
        assert again.exit_code == 1
        assert "0 sent now, 3 sent before" in again.output
        assert re.search(rf"next try after (\S+ )?{next_try} UTC", again.output), again.output
        assert server.recorder.tried["busy@example.com"] == 3


class BusyController(Controller):
    """Greets with 421 beyond ``max_sessions`` open sessions, and for the first ``refuse_first`` ones."""

    def __init__(self, handler, max_sessions: int = 100, refuse_first: int = 0, **kwargs):
        super().__init__(handler, **kwargs)
        self.max_sessions, self.refuse_first = max_sessions, refuse_first
        self.open_sessions = self.turned_away = self.most_open = 0

    def factory(self):
        controller = self

        class Busy(SMTP):
            async def _handle_client(self):
                if controller.turned_away < controller.refuse_first or \
                        controller.open_sessions >= controller.max_sessions:
                    controller.turned_away += 1
                    await self.push("421 4.7.0 Too many connections, try again later")
                    self.transport.close()
                    return
                controller.open_sessions += 1
                controller.most_open = max(controller.most_open, controller.open_sessions)
                try:
                    await super()._handle_client()
                finally:
                    controller.open_sessions -= 1

        return Busy(self.handler, **self.SMTP_kwargs)


def test_a_server_turning_connections_away_gets_fewer_not_a_pause(demo_home, cli, monkeypatch):
    from alliance_digest import delivery

    monkeypatch.setattr(delivery, "BUSY_BACKOFF_SECONDS", (0.2, 0.2, 0.2))
    readers = [f"reader{i:02d}@example.com" for i in range(24)]
    subscribe(active=readers)
    cli(demo_home, "approve", "1.1")
    with Server(controller=BusyController, max_sessions=2) as server:
        configure(demo_home, server.port, concurrency=4)
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert server.recorder.received() == {r: 1 for r in readers}
        assert server.controller.turned_away >= 1 and server.controller.most_open <= 2
    assert "send finished: 24 sent now" in result.output and "PAUSED" not in result.output
    assert "421 4.7.0 Too many connections" in result.output and "going on with" in result.output
    # every connection turned away for a while: the last one backs off and tries again
    from alliance_digest.db.models import Delivery

    Delivery.objects.all().delete()
    with Server(controller=BusyController, refuse_first=4) as server:
        configure(demo_home, server.port, concurrency=2)
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert server.recorder.received() == {r: 1 for r in readers}
    assert "trying again in 0.2 s" in result.output
    # ... and when it never lets us in, the pause says what happened
    Delivery.objects.all().delete()
    with Server(controller=BusyController, refuse_first=1000) as server:
        configure(demo_home, server.port, concurrency=2)
        result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1 and "PAUSED" in result.output
    assert "turned a connection away (421 4.7.0 Too many connections" in result.output
    assert "still after retrying" in result.output and "reachable" not in result.output
    assert set(ledger().values()) == {"queued"}


# ---- headers and the dry run --------------------------------------------------------------------------

def test_a_name_cannot_inject_headers(demo_home, cli):
    from alliance_digest.db.models import Subscriber

    subscribe(active=["eve@example.com", "jane@example.com"])
    Subscriber.objects.filter(email="eve@example.com").update(name="Eve\r\nBcc: spy@example.com")
    Subscriber.objects.filter(email="jane@example.com").update(name="Doe, Jane \"JD\"")
    cli(demo_home, "approve", "1.1")
    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        assert cli(demo_home, "send", "1.1").exit_code == 0
        assert sink.recorder.received() == {"eve@example.com": 1, "jane@example.com": 1}
        raw = {rcpts[0]: content for _, rcpts, content in sink.recorder.messages}
    for address, name in (("eve@example.com", "Eve Bcc: spy@example.com"), ("jane@example.com", 'Doe, Jane "JD"')):
        for policy in (email.policy.compat32, email.policy.default):
            msg = email.message_from_bytes(raw[address], policy=policy)
            assert msg["Bcc"] is None and len(msg.get_all("To")) == 1
        to = email.message_from_bytes(raw[address], policy=email.policy.default)["To"].addresses
        assert [(a.display_name, a.addr_spec) for a in to] == [(name, address)]


def test_dry_run_lists_who_would_get_it(demo_home, cli):
    subscribe(active=["ann@example.com", "Bob@Example.com"], pending=["pat@example.com"])
    cli(demo_home, "approve", "1.1")
    result = cli(demo_home, "send", "1.1", "--dry-run")
    assert result.exit_code == 0
    assert "warning: [digest] site_url is https://digest.example.org" in result.stderr  # said before a dry run too
    lines = result.stdout.splitlines()
    assert lines[:2] == ["ann@example.com", "Bob@Example.com"]
    assert "2 subscriber(s) would receive issue 1.1" in lines[2] and "pat@example.com" not in result.output
