"""Approval and sending over a real SMTP exchange (aiosmtpd on loopback)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smtp_sink import SmtpSink


def configure(home: Path, port: int, **settings) -> None:
    """Point the workspace's [email] settings at the test server."""
    values = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "concurrency": 4,
              "rate_per_second": 0, **settings}
    text = (home / "digest.toml").read_text("utf-8")
    for key, value in values.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value)
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {rendered}", text, count=1)
        assert n == 1, key
    (home / "digest.toml").write_text(text, "utf-8")


@pytest.fixture
def demo_home(tmp_path):
    """A workspace holding the drafted sample issue 1.1."""
    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    return home


def subscribe(**by_status):
    from alliance_digest.db.models import Subscriber

    made = {}
    for status, emails in by_status.items():
        for email in emails:
            made[email] = Subscriber.objects.create(email=email, email_normalized=email.lower(), status=status)
    return made


def test_send_delivers_each_active_subscriber_once_with_unsubscribe_headers(demo_home, cli):
    from alliance_digest import delivery, services
    from alliance_digest.db.models import Delivery, Subscriber
    from alliance_digest.profile import load_profile
    from alliance_digest.tokens import subscriber_for_unsubscribe

    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        subscribe(active=["ann@example.com", "Bob@Example.com"], pending=["pat@example.com"],
                  unsubscribed=["uma@example.com"])
        refused = cli(demo_home, "send", "1.1")
        assert refused.exit_code == 1 and "not approved" in refused.output and "digest approve 1.1" in refused.output
        assert cli(demo_home, "approve", "1.1").exit_code == 0
        from alliance_digest.db.models import EditorDecision, IssueEdit

        # approved from the command line as from the web: in the history, and as decisions `digest learn` uses
        assert EditorDecision.objects.filter(decision="approved").count() == 5
        assert IssueEdit.objects.filter(action="approve", username="command line").count() == 1
        dry = cli(demo_home, "send", "1.1", "--dry-run")
        assert "2 subscriber(s) would receive issue 1.1" in dry.output and "also publishes it" in dry.output
        assert services.find_issue("1.1").status == "approved"  # a dry run changes nothing
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert "send finished: 2 sent now" in result.output
        # the demo still has the default profile's placeholders: the operator is told what breaks
        assert "warning: [digest] site_url is https://digest.example.org, a placeholder" in result.stderr
        assert "warning: [email] from is digest@example.org, a placeholder domain" in result.stderr
        # the email links to the archive, so sending published the issue first
        assert "published issue 1.1 on the archive" in result.output
        assert services.find_issue("1.1").status == "published"
        assert sink.recorder.received() == {"ann@example.com": 1, "bob@example.com": 1}
        again = cli(demo_home, "send", "1.1")
        assert "0 sent now, 2 sent before" in again.output
        assert sum(sink.recorder.received().values()) == 2
        messages = sink.recorder.parsed()

    profile = load_profile(demo_home / "digest.toml")
    issue = services.find_issue("1.1")
    data = issue.frozen
    for msg in messages:
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        to = msg["To"].addresses[0].addr_spec.lower()
        assert msg["Message-ID"] == delivery.message_id(profile, issue, to)
        assert msg["X-Digest-Ref"] == msg["Message-ID"]  # kept by services that replace the Message-ID
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
        assert len(links) == 1 and links[0].startswith("https://")  # no mailto nobody reads (the default)
        token = links[0].rstrip("/").rsplit("/", 1)[-1]
        assert subscriber_for_unsubscribe(token).email_normalized == to  # per recipient
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert links[0] in html and links[0] in text
        for story in data["stories"]:
            assert story["headline"].split()[0] in html
            for url in re.findall(r"\]\((https?://[^)]+)\)", story["summary_markdown"]):
                assert url in html and url in text
        assert msg["Subject"].startswith("US-Japan Alliance Digest Vol 1.1")
    # the recipient's link, as a mail provider or a mail scanner would use it
    from urllib.parse import urlsplit

    from django.test import Client
    from django.test.utils import override_settings

    ann = next(m for m in messages if m["To"].addresses[0].addr_spec == "ann@example.com")
    path = urlsplit(re.findall(r"<([^>]+)>", ann["List-Unsubscribe"])[0]).path
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        assert Client().get(path).status_code == 200  # a scanner's GET changes nothing
        assert Subscriber.objects.get(email="ann@example.com").status == "active"
        one_click = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
        assert one_click.status_code in (200, 204)
        assert Subscriber.objects.get(email="ann@example.com").status == "unsubscribed"
        assert Subscriber.objects.get(email="Bob@Example.com").status == "active"
        # the email's "View in your browser" and PDF links work the moment it arrives
        html = ann.get_body(("html",)).get_content()
        web = re.search(r'href="(https://[^"]+/issues/1-1/)"', html).group(1)
        assert web.replace("/issues/1-1/", "/issues/1-1.pdf") in html
        assert Client().get(urlsplit(web).path).status_code == 200
        pdf = Client().get("/issues/1-1.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    ledger = dict(Delivery.objects.filter(issue=issue).values_list("subscriber__email", "status"))
    assert ledger == {"ann@example.com": "sent", "Bob@Example.com": "sent"}
    assert not Subscriber.objects.filter(email="pat@example.com", deliveries__isnull=False).exists()


def test_temporary_failures_are_retried_and_unknown_users_bounce(demo_home, cli, monkeypatch):
    from alliance_digest import delivery
    from alliance_digest.db.models import Delivery, Subscriber

    monkeypatch.setattr(delivery, "BACKOFF_SECONDS", (0.2, 0.2, 0.2, 0.2, 0.2))
    with SmtpSink() as sink:
        configure(demo_home, sink.port, concurrency=2)
        sink.recorder.flaky.add("flaky@example.com")
        sink.recorder.unknown.add("ghost@example.com")
        subscribe(active=["flaky@example.com", "ghost@example.com", "fine@example.com"])
        cli(demo_home, "approve", "latest")
        result = cli(demo_home, "send", "1.1")
        assert result.exit_code == 0, result.output
        assert sink.recorder.received() == {"flaky@example.com": 1, "fine@example.com": 1}
    assert "1 failed (1 bounced), 1 retries" in result.output
    assert Subscriber.objects.get(email="ghost@example.com").status == "bounced"
    ghost = Delivery.objects.get(subscriber__email="ghost@example.com")
    assert ghost.status == "failed" and "5.1.1" in ghost.last_error


def test_unreachable_server_pauses_with_one_clear_line_and_resumes(demo_home, cli):
    from smtp_sink import free_port

    port = free_port()
    configure(demo_home, port)
    subscribe(active=["a@example.com", "b@example.com"])
    cli(demo_home, "approve", "1.1")
    result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in result.output and "PAUSED" in result.output
    from alliance_digest.db.models import Delivery

    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}
    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        assert cli(demo_home, "send", "1.1").exit_code == 0
        assert sink.recorder.received() == {"a@example.com": 1, "b@example.com": 1}


def test_test_send_works_on_a_draft_and_touches_no_ledger(demo_home, cli):
    from alliance_digest.db.models import Delivery

    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        result = cli(demo_home, "send", "1.1", "--test", "Editor@Example.com")
        assert result.exit_code == 0, result.output
        assert sink.recorder.received() == {"editor@example.com": 1}
        msg = sink.recorder.parsed()[0]
        assert msg["Subject"].startswith("[TEST] ") and msg["List-Unsubscribe"] is None
    assert not Delivery.objects.exists()
    bad = cli(demo_home, "send", "1.1", "--test", "not-an-address")
    assert bad.exit_code == 1 and "not-an-address" in bad.output


def test_empty_list_is_refused(demo_home, cli):
    cli(demo_home, "approve", "1.1")
    result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 1 and "no active subscribers" in result.output


def test_dkim_signature_verifies(demo_home, cli, tmp_path):
    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    with SmtpSink() as sink:
        configure(demo_home, sink.port, dkim_key=str(key), dkim_selector="digest", dkim_domain="example.org")
        subscribe(active=["ann@example.com"])
        cli(demo_home, "approve", "1.1")
        assert cli(demo_home, "send", "1.1").exit_code == 0
        raw = sink.recorder.messages[0][2]
    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record if name == b"digest._domainkey.example.org." else None)


def test_a_killed_send_resumes_without_skipping_or_repeating(demo_home, cli):
    """SIGKILL a real `digest send` of 2,000 messages at a random point, then resume."""
    from alliance_digest.db.models import Subscriber

    concurrency = 4
    active = [f"reader{i:04d}@example.com" for i in range(2000)]
    Subscriber.objects.bulk_create(
        [Subscriber(email=e, email_normalized=e, status="active") for e in active]
        + [Subscriber(email=f"p{i}@example.com", email_normalized=f"p{i}@example.com", status="pending") for i in range(20)]
        + [Subscriber(email=f"u{i}@example.com", email_normalized=f"u{i}@example.com", status="unsubscribed")
           for i in range(20)])
    env = dict(os.environ, DIGEST_HOME=str(demo_home))
    digest = [sys.executable, "-m", "alliance_digest"]
    with SmtpSink() as sink:
        configure(demo_home, sink.port, concurrency=concurrency)
        subprocess.run(digest + ["approve", "1.1"], env=env, check=True, capture_output=True)
        proc = subprocess.Popen(digest + ["send", "1.1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kill_after = random.Random().randint(100, 1500)
        deadline = time.time() + 120
        while sum(sink.recorder.received().values()) < kill_after and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = sum(sink.recorder.received().values())
        assert 0 < first < 2000, f"killed after {first} messages"
        resumed = subprocess.run(digest + ["send", "1.1"], env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        received = sink.recorder.received()
    assert set(received) == set(active)  # everyone active, nobody else
    repeated = sum(n - 1 for n in received.values())
    assert repeated <= concurrency, f"{repeated} repeated messages"


def test_who_leaves_the_list_after_the_ledger_is_made_gets_nothing(demo_home, cli):
    from alliance_digest import delivery, services
    from alliance_digest.db.models import Delivery, Subscriber
    from alliance_digest.profile import load_profile

    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        subscribe(active=["stay@example.com", "leave@example.com"])
        cli(demo_home, "approve", "1.1")
        issue = services.find_issue("1.1")
        delivery.prepare_ledger(issue)
        Subscriber.objects.filter(email="leave@example.com").update(status="unsubscribed")
        report = delivery.send_issue(load_profile(demo_home / "digest.toml"), issue)
        assert report.finished and sink.recorder.received() == {"stay@example.com": 1}
    assert Delivery.objects.get(subscriber__email="leave@example.com").status == "failed"


def test_email_service_providers_go_through_django_backends(demo_home, cli):
    """backend = a Django email backend (django-anymail's for ESPs; here Django's in-memory one)."""
    from django.core import mail

    text = (demo_home / "digest.toml").read_text().replace('backend = "smtp"', 'backend = "locmem"')
    (demo_home / "digest.toml").write_text(text)
    subscribe(active=["esp@example.com"])
    cli(demo_home, "approve", "1.1")
    mail.outbox = []
    result = cli(demo_home, "send", "1.1")
    assert result.exit_code == 0, result.output
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["esp@example.com"]
    sent = mail.outbox[0].message()
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_wrong_credentials_pause_the_send_with_one_clear_line(demo_home, cli, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from smtp_sink import Recorder, free_port

    port = free_port()
    server = Controller(Recorder(), hostname="127.0.0.1", port=port, auth_require_tls=False,
                        authenticator=lambda *args: AuthResult(success=False, handled=False))
    server.start()
    try:
        configure(demo_home, port, smtp_user="digest")
        monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
        subscribe(active=["a@example.com"])
        cli(demo_home, "approve", "1.1")
        result = cli(demo_home, "send", "1.1")
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "refused the credentials of 'digest'" in result.output and "PAUSED" in result.output
    from alliance_digest.db.models import Delivery

    assert list(Delivery.objects.values_list("status", flat=True)) == ["queued"]  # nothing lost or sent


def test_two_sends_started_at_the_same_moment_make_one_send(demo_home, cli):
    """Both passed the "already running" check; the one that marks the issue first sends, the other says so."""
    import os
    import socket

    from alliance_digest import delivery, services
    from alliance_digest.db.models import Issue
    from alliance_digest.profile import load_profile

    with SmtpSink() as sink:
        configure(demo_home, sink.port)
        subscribe(active=["ann@example.com"])
        cli(demo_home, "approve", "1.1")
        stale = services.find_issue("1.1")  # read before the other send marked the issue
        Issue.objects.filter(pk=stale.pk).update(send_state="sending",
                                                 send_note=f"pid {os.getpid()} on {socket.gethostname()}")
        with pytest.raises(delivery.DeliveryError, match="started at the same moment"):
            delivery.send_issue(load_profile(demo_home / "digest.toml"), stale)
        assert sink.recorder.received() == {}


def test_no_placeholder_warning_once_the_profile_names_real_addresses(demo_home, cli):
    from alliance_digest import delivery
    from alliance_digest.profile import load_profile

    text = (demo_home / "digest.toml").read_text("utf-8")
    text = text.replace('site_url = "https://digest.example.org"', 'site_url = "https://digest.alliance-next.jp"')
    text = re.sub(r'(?m)^from = .*$', 'from = "Alliance Digest <digest@alliance-next.jp>"', text, count=1)
    (demo_home / "digest.toml").write_text(text, "utf-8")
    assert delivery.placeholder_warnings(load_profile(demo_home / "digest.toml")) == []
    (demo_home / "digest.toml").write_text(text.replace('site_url = "https://digest.alliance-next.jp"',
                                                        'site_url = ""'), "utf-8")
    [empty] = delivery.placeholder_warnings(load_profile(demo_home / "digest.toml"))
    assert "site_url is empty" in empty
    for host, placeholder in [("digest.example.com", True), ("news.test", True), ("x.example", True),
                              ("examples.org", False), ("alliance.jp", False)]:
        assert delivery._placeholder(host) is placeholder, host
