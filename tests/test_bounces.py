"""`digest bounces process`: hard bounces mark subscribers bounced, soft ones count."""

from __future__ import annotations

import mailbox
from datetime import date, timedelta


def raw_dsn(recipient: str, action: str, status: str, quoting: str | None = "sent") -> bytes:
    """A delivery status report, returning the original's headers as mail servers do (``quoting``:
    "sent" = the Message-ID of the issue sent to ``recipient``, None = no headers, else that id)."""
    if quoting == "sent":
        quoting = sent_to(recipient)
    returned = ("--B\nContent-Type: text/rfc822-headers\n\nFrom: digest@example.org\n"
                f"To: {recipient}\nMessage-ID: {quoting}\nSubject: Alliance Digest\n\n") if quoting else ""
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: digest@example.org\nSubject: Undelivered Mail\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n\n"
        f"{returned}--B--\n").encode()


def sent_to(recipient: str, number: int = 1) -> str:
    """Record in the ledger that issue 1.``number`` went to ``recipient`` (when on the list); its Message-ID."""
    from alliance_digest import delivery
    from alliance_digest.db.models import Delivery, Issue, Subscriber
    from alliance_digest.profile import load_profile
    from alliance_digest.subscribers import address_forms
    from django.conf import settings

    from pathlib import Path

    profile = load_profile(Path(settings.DATABASES["default"]["NAME"]).parent / "digest.toml")
    end = date(2026, 11, 8) + timedelta(days=14 * (number - 1))
    issue, _ = Issue.objects.get_or_create(volume=1, number=number, defaults={
        "title": "Digest", "date": end, "window_start": end - timedelta(days=13), "window_end": end})
    message_id = delivery.message_id(profile, issue, recipient)
    subscriber = Subscriber.objects.filter(email_normalized__in=address_forms(recipient)).first()
    if subscriber is not None:
        Delivery.objects.get_or_create(issue=issue, subscriber=subscriber,
                                       defaults={"status": "sent", "message_id": message_id})
    return message_id


def test_hard_and_soft_bounces(home, cli, tmp_path):
    from alliance_digest.db.models import Subscriber

    for email in ("gone@example.com", "full@example.com", "ok@example.com"):
        Subscriber.objects.create(email=email, email_normalized=email, status="active")
    box = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    box.add(raw_dsn("gone@example.com", "failed", "5.1.1"))
    for number in (1, 2, 3):  # delays of three issues (repeated warnings about one message count once)
        box.add(raw_dsn("full@example.com", "delayed", "4.2.2", quoting=sent_to("full@example.com", number)))
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


def test_processing_a_mailbox_again_counts_nothing_twice(home, cli, tmp_path):
    """A soft bounce read on every run must not add up to a bounced subscriber."""
    from alliance_digest.db.models import Subscriber

    Subscriber.objects.create(email="full@example.com", email_normalized="full@example.com", status="active")
    Subscriber.objects.create(email="busy@example.com", email_normalized="busy@example.com", status="active")
    box = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    box.add(raw_dsn("full@example.com", "delayed", "4.2.2"))  # no Message-ID: known by its bytes
    box.add(b"Message-ID: <dsn-1@mx.example.net>\n" + raw_dsn("busy@example.com", "delayed", "4.2.2"))
    box.flush()
    first = cli(home, "bounces", "process", tmp_path / "bounces.mbox")
    assert first.exit_code == 0, first.output
    assert "2 bounce(s) (0 already processed before, skipped); 0 hard, 2 soft" in first.output
    for _ in range(3):
        again = cli(home, "bounces", "process", tmp_path / "bounces.mbox")
        assert again.exit_code == 0, again.output
        assert "read 2 message(s): 2 bounce(s) (2 already processed before, skipped); 0 hard, 0 soft" in again.output
    soft = dict(Subscriber.objects.values_list("email", "soft_bounces"))
    assert soft == {"full@example.com": 1, "busy@example.com": 1}
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"active"}
    box.add(b"Message-ID: <dsn-2@mx.example.net>\n"  # a delay of the next issue's message
            + raw_dsn("full@example.com", "delayed", "4.2.2", quoting=sent_to("full@example.com", 2)))
    box.flush()
    later = cli(home, "bounces", "process", tmp_path / "bounces.mbox")  # only the new one counts
    assert "read 3 message(s): 3 bounce(s) (2 already processed before, skipped); 0 hard, 1 soft" in later.output
    assert Subscriber.objects.get(email="full@example.com").soft_bounces == 2
    # a Maildir too
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"))
    maildir.add(b"Message-ID: <dsn-3@mx.example.net>\n" + raw_dsn("busy@example.com", "failed", "5.1.1"))
    for run in range(2):
        result = cli(home, "bounces", "process", tmp_path / "Maildir")
        assert f"1 bounce(s) ({run} already processed before, skipped)" in result.output
    assert Subscriber.objects.get(email="busy@example.com").status == "bounced"


def test_a_bounce_for_an_internationalised_domain_finds_its_subscriber(home, cli, tmp_path):
    """The DSN names the address as SMTP carried it (xn--); the list holds it as the subscriber wrote it."""
    from alliance_digest.db.models import Subscriber

    assert cli(home, "subscribers", "add", "user@bücher.de", "--confirmed").exit_code == 0
    box = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    box.add(raw_dsn("user@xn--bcher-kva.de", "failed", "5.1.1"))
    box.flush()
    result = cli(home, "bounces", "process", tmp_path / "bounces.mbox")
    assert result.exit_code == 0, result.output
    assert "0 address(es) not on the list" in result.output
    assert Subscriber.objects.get(email="user@bücher.de").status == "bounced"


def test_a_file_that_is_not_a_mailbox_is_one_clear_line(home, cli, tmp_path):
    (tmp_path / "note.txt").write_text("Subject: not a mailbox\n\nhello\n")
    result = cli(home, "bounces", "process", tmp_path / "note.txt")
    assert result.exit_code == 1 and "note.txt: not an mbox" in result.output


def test_a_forged_or_unquoting_report_strips_nobody_unless_trusted(home, cli, tmp_path):
    """Returned mail arrives at the public From address: a report counts only when it quotes our message."""
    from alliance_digest.db.models import Subscriber

    for email in ("ann@example.com", "bo@example.com", "cy@example.com"):
        Subscriber.objects.create(email=email, email_normalized=email, status="active")
    import hashlib

    from alliance_digest.db.models import Delivery

    guessed = "<digest-1.1-" + "0" * 24 + "@digest.example.org>"
    sent_to("cy@example.com")  # cy got the issue; the forger quotes a made-up id
    # a ledger row from before the ids were keyed holds an id anyone can compute: quoting it proves nothing
    old_style = "<digest-1.1-" + hashlib.sha256(b"1.1|bo@example.com").hexdigest()[:24] + "@digest.example.org>"
    Delivery.objects.create(issue_id=Delivery.objects.get().issue_id, status="sent", message_id=old_style,
                            subscriber=Subscriber.objects.get(email="bo@example.com"))
    box = mailbox.mbox(str(tmp_path / "forged.mbox"))
    box.add(raw_dsn("ann@example.com", "failed", "5.1.1", quoting=None))
    box.add(raw_dsn("bo@example.com", "failed", "5.1.1", quoting=old_style))
    box.add(raw_dsn("cy@example.com", "failed", "5.1.1", quoting=guessed))
    box.flush()
    result = cli(home, "bounces", "process", tmp_path / "forged.mbox")
    assert result.exit_code == 0, result.output
    assert "0 subscriber(s) now bounced" in result.output and "3 report(s) ignored" in result.output
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"active"}
    # a mailbox only the mail server writes to: the operator may trust every report, those ignored before too
    trusted = cli(home, "bounces", "process", "--unverified", tmp_path / "forged.mbox")
    assert "3 subscriber(s) now bounced" in trusted.output, trusted.output
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"bounced"}


def test_a_report_partly_verified_counts_its_verified_part_now_and_the_rest_when_trusted(home, cli, tmp_path):
    from alliance_digest.db.models import Subscriber

    for email in ("ann@example.com", "bo@example.com"):
        Subscriber.objects.create(email=email, email_normalized=email, status="active")
    ann_id = sent_to("ann@example.com")
    raw = raw_dsn("ann@example.com", "failed", "5.1.1", quoting=ann_id).replace(
        b"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n",
        b"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        b"Final-Recipient: rfc822; bo@example.com\nAction: failed\nStatus: 5.1.1\n")
    box = mailbox.mbox(str(tmp_path / "both.mbox"))
    box.add(b"Message-ID: <dsn-both@mx.example.net>\n" + raw)
    box.flush()
    first = cli(home, "bounces", "process", tmp_path / "both.mbox")
    assert "1 subscriber(s) now bounced" in first.output and "1 report(s) ignored" in first.output, first.output
    again = cli(home, "bounces", "process", tmp_path / "both.mbox")
    assert "0 subscriber(s) now bounced" in again.output and "(1 already processed before" not in again.output
    trusted = cli(home, "bounces", "process", "--unverified", tmp_path / "both.mbox")
    assert "1 subscriber(s) now bounced" in trusted.output, trusted.output
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"bounced"}
    last = cli(home, "bounces", "process", "--unverified", tmp_path / "both.mbox")
    assert "(1 already processed before, skipped)" in last.output and "0 subscriber(s) now bounced" in last.output


def test_repeated_delay_warnings_about_one_message_count_once(home, cli, tmp_path):
    """Mail servers warn again and again about one slow message: that is one soft bounce, not three."""
    from alliance_digest.db.models import Subscriber

    Subscriber.objects.create(email="slow@example.com", email_normalized="slow@example.com", status="active")
    sent = sent_to("slow@example.com")
    box = mailbox.mbox(str(tmp_path / "delays.mbox"))
    for hours in (4, 24, 48):
        box.add(f"Message-ID: <delay-{hours}h@mx.example.net>\n".encode()
                + raw_dsn("slow@example.com", "delayed", "4.2.2", quoting=sent))
    box.flush()
    result = cli(home, "bounces", "process", tmp_path / "delays.mbox")
    assert result.exit_code == 0 and "1 soft" in result.output, result.output
    subscriber = Subscriber.objects.get()
    assert subscriber.soft_bounces == 1 and subscriber.status == "active"


def test_a_report_quoting_a_message_sent_under_an_earlier_from_domain_still_counts(home, cli, tmp_path):
    from alliance_digest.db.models import Subscriber

    Subscriber.objects.create(email="ann@example.com", email_normalized="ann@example.com", status="active")
    sent = sent_to("ann@example.com")
    toml = home / "digest.toml"  # the publisher moves to its own domain after the send
    toml.write_text(toml.read_text("utf-8").replace('site_url = "https://digest.example.org"',
                                                    'site_url = "https://news.alliance-next.jp"'), "utf-8")
    box = mailbox.mbox(str(tmp_path / "b.mbox"))
    box.add(raw_dsn("ann@example.com", "failed", "5.1.1", quoting=sent))
    box.flush()
    assert "1 subscriber(s) now bounced" in cli(home, "bounces", "process", tmp_path / "b.mbox").output
