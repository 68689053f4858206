"""`digest bounces process`: hard bounces mark subscribers bounced, soft ones count."""

from __future__ import annotations

import mailbox


def raw_dsn(recipient: str, action: str, status: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: digest@example.org\nSubject: Undelivered Mail\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n\n"
        "--B--\n").encode()


def test_hard_and_soft_bounces(home, cli, tmp_path):
    from alliance_digest.db.models import Subscriber

    for email in ("gone@example.com", "full@example.com", "ok@example.com"):
        Subscriber.objects.create(email=email, email_normalized=email, status="active")
    box = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    box.add(raw_dsn("gone@example.com", "failed", "5.1.1"))
    for _ in range(3):
        box.add(raw_dsn("full@example.com", "delayed", "4.2.2"))
    box.add(b"From: someone@example.com\nSubject: hello\n\nnot a bounce\n")
    box.add(raw_dsn("stranger@example.com", "failed", "5.1.1"))
    box.flush()
    result = cli(home, "bounces", "process", tmp_path / "bounces.mbox")
    assert result.exit_code == 0, result.output
    status = dict(Subscriber.objects.values_list("email", "status"))
    assert status == {"gone@example.com": "bounced", "full@example.com": "bounced", "ok@example.com": "active"}
    assert Subscriber.objects.get(email="full@example.com").soft_bounces == 3
    assert "read 6 message(s): 5 bounce(s)" in result.output and "1 address(es) not on the list" in result.output


def test_soft_bounces_below_the_limit_keep_the_subscriber(home, cli, tmp_path):
    from alliance_digest.db.models import Subscriber

    Subscriber.objects.create(email="full@example.com", email_normalized="full@example.com", status="active")
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"))
    maildir.add(raw_dsn("full@example.com", "delayed", "4.2.2"))
    result = cli(home, "bounces", "process", tmp_path / "Maildir")
    assert result.exit_code == 0
    assert Subscriber.objects.get(email="full@example.com").status == "active"


def test_missing_or_wrong_path_is_one_clear_line(home, cli, tmp_path):
    result = cli(home, "bounces", "process", tmp_path / "nope")
    assert result.exit_code == 1 and "nope: not found" in result.output
    (tmp_path / "plain").mkdir()
    result = cli(home, "bounces", "process", tmp_path / "plain")
    assert "not a Maildir" in result.output
