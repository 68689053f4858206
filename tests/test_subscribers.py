"""Subscribers: the library, `digest subscribers ...`, the public pages and the confirmation email.

Emails really go over SMTP, to an aiosmtpd server on the loopback interface.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from pathlib import Path
from unittest import mock

import pytest

from conftest import write

SITE = "https://digest.example.org"


# ---- fixtures ---------------------------------------------------------------------------------------

class Inbox:
    """What the loopback SMTP server received."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_profile(home: Path, smtp_server: Inbox):
    """The workspace's profile sending through the loopback SMTP server (the web pages read it too)."""
    from alliance_digest.profile import load_profile

    path = home / "digest.toml"
    text = path.read_text("utf-8")
    text = re.sub(r'(?m)^smtp_host = .*$', 'smtp_host = "127.0.0.1"', text)
    text = re.sub(r'(?m)^smtp_port = .*$', f"smtp_port = {smtp_server.port}", text)
    text = re.sub(r'(?m)^smtp_security = .*$', 'smtp_security = "none"', text)
    path.write_text(text, "utf-8")
    profile = load_profile(path)
    assert profile.email.smtp_port == smtp_server.port and profile.site_url == SITE
    return profile


@pytest.fixture
def web(home: Path):
    """Django's test client setup: the test host allowed, the rate-limit cache empty."""
    from django.core.cache import cache
    from django.test.utils import override_settings

    cache.clear()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        yield
    cache.clear()


def client(**kwargs):
    from django.test import Client

    return Client(**{"REMOTE_ADDR": "127.0.0.1", **kwargs})


def subscriber(address: str):
    from alliance_digest.db.models import Subscriber

    return Subscriber.objects.get(email_normalized=address.lower())


def link_in(message, kind: str) -> str:
    """The path of the ``kind`` (confirm/unsubscribe) link in the message's text part."""
    text = message.get_body(("plain",)).get_content()
    found = re.search(rf"{re.escape(SITE)}(/{kind}/[^/\s]+/)", text)
    assert found, text
    return found.group(1)


def state(address: str) -> tuple:
    s = subscriber(address)
    return (s.status, s.confirmed_at, s.unsubscribed_at, s.consent_at, s.updated_at)


# ---- addresses --------------------------------------------------------------------------------------

def test_normalise_strips_lower_cases_and_validates(home):
    from alliance_digest.subscribers import InvalidAddress, normalise

    assert normalise("  Ann.Smith@Example.ORG \n") == "ann.smith@example.org"
    for bad, why in (("", "no email address given"), ("   ", "no email address given"),
                     ("ann", "'ann' is not a valid email address"),
                     ("ann@", "'ann@' is not a valid email address"),
                     ("ann smith@example.org", "is not a valid email address"),
                     ("a@" + "b" * 320 + ".org", "too long"),
                     ("a" * 65 + "@example.org", "the part before @ is over 64 characters"),
                     ("ann@localhost", "has no dot")):
        with pytest.raises(InvalidAddress, match=re.escape(why)):
            normalise(bad)


def test_addresses_are_unique_case_insensitively(home, profile, cli):
    from django.db import IntegrityError, transaction

    from alliance_digest import subscribers
    from alliance_digest.db.models import Subscriber

    first, created = subscribers.add(profile, "Ann@Example.org", name="Ann", confirmed=True)
    assert created and first.email == "Ann@Example.org" and first.email_normalized == "ann@example.org"
    again, created = subscribers.add(profile, "  ann@EXAMPLE.ORG ", confirmed=True)
    assert not created and again.pk == first.pk and again.status == "active"
    result = cli(home, "subscribers", "add", "ANN@example.org", "--confirmed")
    assert result.exit_code == 0 and "already on the list (active)" in result.output
    assert Subscriber.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(email="ann@example.org", email_normalized="ann@example.org")
    assert subscribers.find("ANN@EXAMPLE.ORG").pk == first.pk


# ---- CSV import and export --------------------------------------------------------------------------

MESSY_CSV = (
    '\ufeff"Email Address";"Full Name";"Notes"\n'      # row 1: header, after a UTF-8 BOM
    '"ann@example.org";"Smith; Ann";"quoted ; inside"\n'  # row 2
    '" Bob@Example.org ";"Bob ""Bobby"" Jones";\n'     # row 3: spaces, doubled quotes
    'not-an-address;Nobody;\n'                          # row 4: invalid
    'ANN@example.org;Ann again;\n'                      # row 5: duplicate of row 2
    '"carol@example.org";Carol;\n'                      # row 6
    ';;\n'                                              # row 7: blank, ignored
    '"dave at example.org";Dave;\n'                     # row 8: invalid
    '@example.org;No local part;\n'                     # row 9: invalid
    'erin@;No domain;\n'                                # row 10: invalid
    ';Only a name;\n'                                   # row 11: invalid (no address)
    'bob@example.org;Bob twice;\n'                      # row 12: duplicate of row 3
    'old@example.org;Already here;\n'                   # row 13: on the list already
)


def test_import_messy_csv_reports_each_rejected_row(home, profile, cli):
    from alliance_digest import subscribers
    from alliance_digest.db.models import Subscriber

    subscribers.add(profile, "old@example.org", name="Old Reader", confirmed=True)
    path = home / "list.csv"
    path.write_bytes(MESSY_CSV.encode("utf-8"))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    result = cli(home, "subscribers", "import", path, "--confirmed")
    assert result.exit_code == 0, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path} row 4: 'not-an-address' is not a valid email address",
        f"error: {path} row 5: ANN@example.org is a duplicate of row 2",
        f"error: {path} row 8: 'dave at example.org' is not a valid email address",
        f"error: {path} row 9: '@example.org' is not a valid email address",
        f"error: {path} row 10: 'erin@' is not a valid email address",
        f"error: {path} row 11: no email address given",
        f"error: {path} row 12: bob@example.org is a duplicate of row 3",
    ]
    assert (f"{path}: 11 row(s): imported 3 new subscriber(s) (active), 0 updated, 1 already on the list, "
            "2 duplicate(s), 5 invalid") in result.output
    assert sorted(Subscriber.objects.values_list("email_normalized", flat=True)) == [
        "ann@example.org", "bob@example.org", "carol@example.org", "old@example.org"]
    ann, bob = subscriber("ann@example.org"), subscriber("bob@example.org")
    assert ann.name == "Smith; Ann" and ann.status == "active" and ann.source == "import"
    assert ann.consent_at and "--confirmed" in ann.consent_method
    assert bob.email == "Bob@Example.org" and bob.name == 'Bob "Bobby" Jones'

    again = cli(home, "subscribers", "import", path, "--confirmed")  # re-running is harmless
    assert again.exit_code == 0 and "imported 0 new subscriber(s) (active), 0 updated, 4 already on the list" \
        in again.output
    assert Subscriber.objects.count() == 4


@pytest.mark.parametrize("header,sep", [("email", ","), ("E-mail", ","), ("Email Address", ";"),
                                        ("EMAIL", "\t"), ("e-mail address", ";")])
def test_import_header_variants_and_separators(home, profile, header, sep):
    from alliance_digest import subscribers

    path = write(home / "h.csv", f"Name{sep}{header}\nAnn{sep}ann@example.org\n\"Lee, Bo\"{sep}bo@example.org\n")
    report = subscribers.import_csv(profile, path, confirmed=True)
    assert report.imported == ["ann@example.org", "bo@example.org"] and not report.problems
    assert subscriber("bo@example.org").name == "Lee, Bo"


def test_import_without_header_and_first_last_names(home, profile):
    from alliance_digest import subscribers

    report = subscribers.import_csv(profile, write(home / "bare.csv", "ann@example.org\nbad\nbo@example.org\n"),
                                    confirmed=True)
    assert report.imported == ["ann@example.org", "bo@example.org"]
    assert [(p.row, p.message) for p in report.problems] == [(2, "'bad' is not a valid email address")]
    subscribers.import_csv(profile, write(home / "names.csv", "First name,Last name,Email\nCy,Young,cy@example.org\n"),
                           confirmed=True)
    assert subscriber("cy@example.org").name == "Cy Young"


def test_import_bad_files_say_so_in_one_line(home, cli):
    cases = [
        (write(home / "empty.csv", ""), "the file is empty"),
        (write(home / "header.csv", "email;name\n"), "no subscribers in the file (only a header)"),
        (write(home / "nocol.csv", "who,what\nann,thing\n"), "no email column"),
        (home / "missing.csv", "no such file"),
    ]
    latin = home / "latin.csv"
    latin.write_bytes("email,name\nj@example.org,Jos\xe9\n".encode("latin-1"))
    cases.append((latin, "not UTF-8"))
    for path, message in cases:
        result = cli(home, "subscribers", "import", path)
        assert result.exit_code == 1, (path, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_import_only_invalid_rows_fails_and_never_resubscribes(home, profile, cli):
    from alliance_digest import subscribers

    result = cli(home, "subscribers", "import", write(home / "bad.csv", "email\nnope\n\"also nope\"\n"))
    assert result.exit_code == 1
    assert "row 2: 'nope' is not a valid email address" in result.output and "row 3:" in result.output

    gone, _ = subscribers.add(profile, "gone@example.org", confirmed=True)
    subscribers.unsubscribe(gone, "test")
    result = cli(home, "subscribers", "import", write(home / "old.csv", "email\ngone@example.org\n"), "--confirmed")
    assert "row 2: gone@example.org is unsubscribed; an import does not re-subscribe it" in result.output
    assert subscriber("gone@example.org").status == "unsubscribed"


def test_import_unconfirmed_rows_are_pending_and_emailed(mail_profile, home, cli, smtp_server):
    result = cli(home, "subscribers", "import", write(home / "l.csv", "email\nann@example.org\nbo@example.org\n"))
    assert result.exit_code == 0, result.output
    assert "imported 2 new subscriber(s) (pending confirmation)" in result.output
    assert "2 confirmation email(s) sent" in result.output
    assert sorted(m["To"] for m in smtp_server.messages) == ["ann@example.org", "bo@example.org"]
    assert subscriber("ann@example.org").status == "pending"


def test_export_list_and_remove(home, profile, cli):
    from alliance_digest import subscribers

    empty = cli(home, "subscribers", "list")
    assert empty.exit_code == 0 and empty.output.strip() == "no subscribers yet"
    subscribers.add(profile, "Ann@Example.org", name="=HYPERLINK(\"x\")", confirmed=True)
    subscribers.add(profile, "bo@example.org", send=False)

    out = cli(home, "subscribers", "export")
    lines = out.output.splitlines()
    assert lines[0].startswith("email,name,status,source,created_at")
    assert lines[1].startswith("Ann@Example.org,\"'=HYPERLINK(\"\"x\"\")\",active,cli,")  # no formula
    assert lines[2].startswith("bo@example.org,,pending,cli,") and len(lines) == 3
    written = cli(home, "subscribers", "export", home / "out.csv", "--status", "active")
    assert written.output.strip() == f"wrote 1 subscriber(s) to {home / 'out.csv'}"

    listed = cli(home, "subscribers", "list").output
    assert "active" in listed and "Ann@Example.org" in listed and "2 subscriber(s) (1 active, 1 pending)" in listed
    assert cli(home, "subscribers", "list", "--status", "bounced").output.strip() == "no bounced subscribers"

    removed = cli(home, "subscribers", "remove", "ANN@example.org")
    assert removed.exit_code == 0 and "removed Ann@Example.org (active)" in removed.output
    missing = cli(home, "subscribers", "remove", "ann@example.org")
    assert missing.exit_code == 1 and "not on the list; nothing removed" in missing.output
    bad = cli(home, "subscribers", "add", "not an address")
    assert bad.exit_code == 1 and "'not an address' is not a valid email address" in bad.output


# ---- double opt-in ----------------------------------------------------------------------------------

def test_double_opt_in_over_smtp(mail_profile, web, smtp_server):
    response = client().post("/subscribe/", {"email": "New.Reader@Example.org", "name": "New Reader"})
    assert response.status_code == 200
    s = subscriber("new.reader@example.org")
    assert s.status == "pending" and s.source == "web" and s.consent_ip == "127.0.0.1" and s.consent_at is None

    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["New.Reader@Example.org"]
    [message] = smtp_server.messages
    assert message["From"] == mail_profile.email.from_address and message["To"] == "New.Reader@Example.org"
    assert "confirm" in message["Subject"].lower()
    path = link_in(message, "confirm")
    assert f"{SITE}{path}" in message.get_body(("html",)).get_content()

    page = client().get(path)  # a mail scanner following the link changes nothing
    assert page.status_code == 200 and b"Confirm my subscription" in page.content
    assert b'method="post"' in page.content
    assert subscriber("new.reader@example.org").status == "pending"

    done = client(enforce_csrf_checks=True).post(path)  # the button: the signed token authorises it
    assert done.status_code == 200 and b"You are subscribed" in done.content
    s = subscriber("new.reader@example.org")
    assert s.status == "active" and s.confirmed_at and s.consent_at
    assert s.consent_method == "web: confirmed by email link" and s.consent_ip == "127.0.0.1"
    assert client().post(path).status_code == 200  # pressing it twice is harmless
    assert len(smtp_server.envelopes) == 1


def test_cli_add_sends_the_confirmation_email(mail_profile, home, cli, smtp_server):
    result = cli(home, "subscribers", "add", "ann@example.org", "--name", "Ann")
    assert result.exit_code == 0, result.output
    assert "added ann@example.org (pending)" in result.output
    assert "confirmation email sent to ann@example.org (the link works for 72 hours)" in result.output
    [message] = smtp_server.messages
    assert message.get_body(("plain",)).get_content().startswith("Hello,")  # never a name anyone could type
    link_in(message, "confirm")
    assert cli(home, "subscribers", "add", "bo@example.org", "--confirmed").output.strip() == \
        "added bo@example.org (active)"
    assert len(smtp_server.envelopes) == 1


def test_add_reports_an_unreachable_mail_server(home, profile, cli):
    """Nothing listens on the profile's SMTP port: the subscriber is stored, the failure said in one line."""
    from alliance_digest import subscribers

    path = home / "digest.toml"
    port = _free_port()
    path.write_text(re.sub(r"(?m)^smtp_port = .*$", f"smtp_port = {port}", path.read_text("utf-8")), "utf-8")
    result = cli(home, "subscribers", "add", "ann@example.org")
    assert result.exit_code == 0  # the subscriber was added
    assert "added ann@example.org (pending)" in result.output
    assert "error: could not send the confirmation email to ann@example.org" in result.output
    assert subscribers.find("ann@example.org").status == "pending"


def test_expired_confirmation_link_is_rejected(mail_profile, web):
    from alliance_digest import subscribers, tokens

    s, _ = subscribers.add(mail_profile, "late@example.org", send=False)
    hours = mail_profile.email.confirm_hours
    with mock.patch("django.core.signing.time.time", return_value=time.time() - (hours + 1) * 3600):
        old = tokens.confirm_url(mail_profile, s).removeprefix(SITE)
    before = state("late@example.org")
    for response in (client().get(old), client().post(old)):
        assert response.status_code == 400
        assert b"expired" in response.content and b"Nothing has been changed" in response.content
    assert state("late@example.org") == before


# ---- unsubscribe ------------------------------------------------------------------------------------

def test_one_click_unsubscribe_needs_no_csrf_and_get_changes_nothing(home, profile, web):
    from alliance_digest import subscribers, tokens

    s, _ = subscribers.add(profile, "reader@example.org", confirmed=True)
    url = tokens.unsubscribe_url(profile, s)
    assert url.startswith(SITE + "/unsubscribe/")
    path = url.removeprefix(SITE)

    page = client(enforce_csrf_checks=True).get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.content and b'method="post"' in page.content
    assert page["Referrer-Policy"] == "no-referrer" and "no-store" in page["Cache-Control"]
    assert subscriber("reader@example.org").status == "active"

    # RFC 8058: the provider POSTs List-Unsubscribe=One-Click, no cookie, no CSRF token.
    done = client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    s = subscriber("reader@example.org")
    assert s.status == "unsubscribed" and s.unsubscribed_at

    again = client(enforce_csrf_checks=True).post(path.rstrip("/"), "List-Unsubscribe=One-Click",
                                                  content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200 and subscriber("reader@example.org").unsubscribed_at == s.unsubscribed_at
    assert client().get(path).status_code == 200


def test_forged_and_foreign_tokens_are_rejected(mail_profile, web):
    from django.core import signing

    from alliance_digest import subscribers, tokens

    ann, _ = subscribers.add(mail_profile, "ann@example.org", confirmed=True)
    bo, _ = subscribers.add(mail_profile, "bo@example.org", send=False)
    good_unsub, good_confirm = tokens.unsubscribe_token(ann), tokens.confirm_token(bo)
    forged = good_unsub[:-3] + ("AAA" if not good_unsub.endswith("AAA") else "BBB")
    # Properly signed, but naming one subscriber's id with another's address.
    crossed_unsub = signing.dumps({"s": ann.pk, "e": bo.email_normalized}, salt=tokens.UNSUBSCRIBE_SALT,
                                  compress=True)
    crossed_confirm = signing.TimestampSigner(salt=tokens.CONFIRM_SALT).sign_object(
        {"s": bo.pk, "e": ann.email_normalized}, compress=True)
    unsigned = signing.dumps({"s": ann.pk, "e": ann.email_normalized}, key="not the secret key",
                             salt=tokens.UNSUBSCRIBE_SALT)
    before = (state("ann@example.org"), state("bo@example.org"))
    for path in ([f"/unsubscribe/{t}/" for t in (forged, crossed_unsub, unsigned, good_confirm, "nonsense")]
                 + [f"/confirm/{t}/" for t in (good_confirm[:-2] + "xx", crossed_confirm, good_unsub, "x")]):
        for method in ("get", "post"):
            response = getattr(client(enforce_csrf_checks=True), method)(path, {"List-Unsubscribe": "One-Click"}
                                                                          if method == "post" else None)
            assert response.status_code == 400, (method, path)
            assert b"This link does not work" in response.content
    assert (state("ann@example.org"), state("bo@example.org")) == before


def test_resubscribe_after_unsubscribe_needs_confirmation(mail_profile, web, smtp_server):
    from alliance_digest import subscribers, tokens

    client().post("/subscribe/", {"email": "back@example.org"})
    first_link = link_in(smtp_server.messages[0], "confirm")
    client().post(first_link)
    s = subscriber("back@example.org")
    assert s.status == "active"
    client().post(tokens.unsubscribe_url(mail_profile, s).removeprefix(SITE))
    assert subscriber("back@example.org").status == "unsubscribed"

    # An old confirmation link cannot undo the unsubscribe.
    assert client().post(first_link).status_code == 400
    assert subscriber("back@example.org").status == "unsubscribed"

    response = client().post("/subscribe/", {"email": "BACK@example.org", "name": "Back Again"})
    assert response.status_code == 200
    s = subscriber("back@example.org")
    assert s.status == "pending" and s.confirmed_at is None and s.consent_at is None
    assert s.name == ""  # what a visitor types never rewrites a stored record
    assert len(smtp_server.envelopes) == 2
    client().get(link_in(smtp_server.messages[1], "confirm"))
    assert subscriber("back@example.org").status == "pending"
    client().post(link_in(smtp_server.messages[1], "confirm"))
    assert subscriber("back@example.org").status == "active"
    assert len(subscribers.counts()) == 1


# ---- the subscribe form -----------------------------------------------------------------------------

def _without_csrf(body: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def test_subscribe_form_answers_the_same_for_new_and_existing_addresses(mail_profile, web, smtp_server):
    from alliance_digest import subscribers
    from alliance_digest.db.models import Subscriber

    form = client().get("/subscribe/")
    assert form.status_code == 200 and b'name="csrfmiddlewaretoken"' in form.content
    assert b'name="email"' in form.content and "default-src 'none'" in form["Content-Security-Policy"]

    subscribers.add(mail_profile, "known@example.org", confirmed=True)
    new = client().post("/subscribe/", {"email": "fresh@example.org", "name": "Fresh"})
    known = client().post("/subscribe/", {"email": "Known@Example.org", "name": "Someone Else"})
    assert new.status_code == known.status_code == 200
    assert _without_csrf(new.content) == _without_csrf(known.content)
    assert new.headers.get("Set-Cookie") == known.headers.get("Set-Cookie")
    assert b"fresh@example.org" not in new.content

    # The known address got no second entry, no email, no change of name.
    assert Subscriber.objects.filter(email_normalized="known@example.org").count() == 1
    assert subscriber("known@example.org").name == ""
    assert [m["To"] for m in smtp_server.messages] == ["fresh@example.org"]

    # Signing up again while pending: the same answer; the link is not mailed again within minutes.
    pending = client().post("/subscribe/", {"email": "fresh@example.org"})
    assert pending.status_code == 200 and _without_csrf(pending.content) == _without_csrf(new.content)
    assert len(smtp_server.envelopes) == 1 and subscriber("fresh@example.org").status == "pending"

    invalid = client().post("/subscribe/", {"email": "not an address <b>", "name": "<script>x</script>"})
    assert invalid.status_code == 400 and b"Please enter a valid email address." in invalid.content
    assert b"<script>" not in invalid.content and b"&lt;script&gt;" in invalid.content


def test_the_public_form_cannot_remail_a_complainer_or_rewrite_a_stored_record(mail_profile, web, smtp_server):
    """Anyone can fill in the form: it must not undo a spam complaint, change a name, or carry their text."""
    from alliance_digest import subscribers
    from alliance_digest.db.models import Subscriber

    subscribers.add(mail_profile, "carol@example.org", name="Carol", confirmed=True)
    Subscriber.objects.filter(email_normalized="carol@example.org").update(status="complained")
    subscribers.add(mail_profile, "dan@example.org", name="Dan", confirmed=True)
    Subscriber.objects.filter(email_normalized="dan@example.org").update(status="unsubscribed")
    lure = "Your account is locked - verify at https://evil.example/login"
    for address in ("carol@example.org", "dan@example.org", "erin@example.org"):
        assert client().post("/subscribe/", {"email": address, "name": lure}).status_code == 200
    carol = subscriber("carol@example.org")
    assert carol.status == "complained" and carol.name == "Carol"
    dan = subscriber("dan@example.org")
    assert dan.status == "pending" and dan.name == "Dan"  # re-subscribing is allowed, renaming is not
    assert subscriber("erin@example.org").name == lure  # a new address keeps what was typed...
    assert [m["To"] for m in smtp_server.messages] == ["dan@example.org", "erin@example.org"]
    for message in smtp_server.messages:  # ...but no stranger's text reaches an inbox
        assert "evil.example" not in message.get_body(("plain",)).get_content()
        assert "evil.example" not in message.get_body(("html",)).get_content()


def test_subscribe_form_requires_csrf(home, web):
    from alliance_digest.db.models import Subscriber

    browser = client(enforce_csrf_checks=True)
    assert browser.post("/subscribe/", {"email": "csrf@example.org"}).status_code == 403
    assert not Subscriber.objects.exists()

    page = browser.get("/subscribe/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    with mock.patch("alliance_digest.subscribers.send_confirmation"):
        ok = browser.post("/subscribe/", {"email": "csrf@example.org", "csrfmiddlewaretoken": token})
    assert ok.status_code == 200 and subscriber("csrf@example.org").status == "pending"


def test_subscribe_honeypot_and_rate_limit(home, web):
    from alliance_digest.db.models import Subscriber
    from alliance_digest.web import views

    bot = client().post("/subscribe/", {"email": "bot@example.org", "website": "http://spam.example"})
    assert bot.status_code == 200 and b"Check your inbox" in bot.content and not Subscriber.objects.exists()
    with mock.patch("alliance_digest.subscribers.send_confirmation"):
        # The bot's POST counted: RATE_LIMIT - 1 more are answered, then 429.
        codes = [client().post("/subscribe/", {"email": f"r{i}@example.org"}).status_code
                 for i in range(views.RATE_LIMIT)]
        assert codes == [200] * (views.RATE_LIMIT - 1) + [429]
        assert Subscriber.objects.count() == views.RATE_LIMIT - 1
        other = client(REMOTE_ADDR="192.0.2.7").post("/subscribe/", {"email": "other@example.org"})
        assert other.status_code == 200


def test_mail_failure_does_not_change_the_answer(home, web):
    """A mail server that is down is logged; the visitor sees the usual page."""
    path = home / "digest.toml"
    path.write_text(re.sub(r"(?m)^smtp_port = .*$", f"smtp_port = {_free_port()}", path.read_text("utf-8")),
                    "utf-8")
    response = client().post("/subscribe/", {"email": "down@example.org"})
    assert response.status_code == 200 and b"Check your inbox" in response.content
    assert subscriber("down@example.org").status == "pending"


# ---- mail connections -------------------------------------------------------------------------------

def test_email_connection_from_profile(home, profile, monkeypatch):
    from django.core.mail.backends.smtp import EmailBackend

    from alliance_digest.mailer import MailError, email_connection

    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "s3cret")
    profile.email.smtp_user, profile.email.smtp_host, profile.email.smtp_port = "digest", "mail.example.org", 465
    profile.email.smtp_security = "tls"
    conn = email_connection(profile)
    assert isinstance(conn, EmailBackend)
    assert (conn.host, conn.port, conn.username, conn.password) == ("mail.example.org", 465, "digest", "s3cret")
    assert conn.use_ssl and not conn.use_tls and conn.timeout
    profile.email.smtp_security = "starttls"
    assert email_connection(profile).use_tls

    profile.email.backend = "anymail.backends.mailgun.EmailBackend"
    profile.email.anymail = {"api_key_env": "MG_KEY", "sender_domain": "mg.example.org"}
    monkeypatch.setenv("MG_KEY", "key-123")
    conn = email_connection(profile)
    assert type(conn).__module__ == "anymail.backends.mailgun" and conn.api_key == "key-123"
    assert conn.sender_domain == "mg.example.org"

    profile.email.backend = "no.such.Backend"
    with pytest.raises(MailError, match="cannot be loaded"):
        email_connection(profile)


def test_confirmation_message_id_uses_the_site_domain(mail_profile, home, cli, smtp_server):
    assert cli(home, "subscribers", "add", "ann@example.org").exit_code == 0
    [message] = smtp_server.messages
    assert re.fullmatch(r"<[^@<>\s]+@digest\.example\.org>", message["Message-ID"].strip()), message["Message-ID"]


def test_a_domain_without_an_idna_form_is_refused_at_input(home, profile, cli):
    from alliance_digest import subscribers

    assert subscribers.normalise("User@Bücher.de") == "user@bücher.de"  # accepted, sent as xn--bcher-kva.de
    with pytest.raises(subscribers.InvalidAddress, match="the domain cannot be used in email"):
        subscribers.normalise("user@☃.net")
    result = cli(home, "subscribers", "add", "user@☃.net", "--confirmed")
    assert result.exit_code == 1
    assert "'user@☃.net': the domain cannot be used in email" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unclosed_quote_is_reported_not_a_row_silently_swallowed(home, profile, cli):
    path = home / "quotes.csv"
    path.write_text('email,name\ngood1@example.com,One\ngood2@example.com,"Unclosed\ngood3@example.com,Three\n', "utf-8")
    result = cli(home, "subscribers", "import", path, "--confirmed")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "row 3: a quote is not closed" in errors[0] and "good3@example.com" in errors[0]
    from alliance_digest.db.models import Subscriber

    assert list(Subscriber.objects.values_list("email_normalized", flat=True)) == ["good1@example.com"]


def test_an_address_stored_under_older_rules_can_still_be_found_and_removed(home, profile, cli):
    from alliance_digest.db.models import Subscriber

    Subscriber.objects.create(email="ann@localhost", email_normalized="ann@localhost", status="active")
    result = cli(home, "subscribers", "remove", "ann@localhost")
    assert result.exit_code == 0, result.output
    assert not Subscriber.objects.filter(email_normalized="ann@localhost").exists()
