"""Approving and sending an issue: exactly once per confirmed subscriber.

The ledger (:class:`~alliance_digest.db.models.Delivery`) has one row per
(issue, subscriber). A worker claims a row (``queued`` -> ``sending``) right
before handing the message to SMTP and marks it ``sent`` right after the
server accepted it, one message at a time per connection. A send that is
stopped or killed can therefore be resumed with the same command: rows still
``sending`` from the dead run are the only ones that may be repeated, and
there are at most ``email.concurrency`` of them. Nobody is skipped: the send
is finished only when every row is ``sent`` or permanently ``failed``.

Temporary failures (4xx replies, dropped connections) are retried with
exponential back-off: everyone else is sent to first; a retry due within
``RETRY_WAIT_SECONDS`` is waited for (with a line saying so), a later one is
left queued with its time and the run ends saying when to run it again.
Permanent refusals of one recipient fail its row; those that say the mailbox
does not exist (5.1.x, or "user unknown" without an enhanced code) also mark
the subscriber bounced. A refusal that is not about the recipient (the
sender, relaying, authentication, a policy or content rejection at DATA)
would hit every message: it pauses the send and leaves the rows queued, as
an unreachable server does. A server that turns a connection away (421 at
the greeting) gets fewer connections, or a back-off. Too many failures in a
row pause the send with a clear message, and the refusals in that row that
could not be put down to their recipients go back to the queue.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from alliance_digest.db.models import Delivery, Issue, IssueEdit, Subscriber
from alliance_digest.profile import Profile

MAX_ATTEMPTS = 6  # temporary failures before a delivery is given up
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)  # wait after the 1st, 2nd... temporary failure
RETRY_WAIT_SECONDS = 60  # a run waits for retries due within this; later ones are left for the next run
BUSY_BACKOFF_SECONDS = (5, 15, 30, 60, 120)  # the last connection turned away (421): wait, then try again
PLACEHOLDER = "https://unsubscribe.invalid/__DIGEST_UNSUBSCRIBE__/"
PREFETCH = 200  # rows read at a time; an unsubscribe lands at most this many messages late


class DeliveryError(Exception):
    """A send that cannot start or must stop (one clear line)."""


# ----------------------------------------------------------------- approve ---

def approve(profile: Profile, issue: Issue, by: str = "") -> Issue:
    """Freeze the issue's content: what is approved is exactly what is sent."""
    from alliance_digest.services import issue_data

    if issue.status != Issue.Status.DRAFT:
        raise DeliveryError(f"issue {issue.key} is already {issue.status}")
    if not issue.stories.filter(selected=True).exists():
        raise DeliveryError(f"issue {issue.key} has no stories; nothing to approve")
    issue.status = Issue.Status.APPROVED
    issue.frozen = issue_data(issue, profile)
    issue.frozen["status"] = Issue.Status.APPROVED
    issue.approved_at = timezone.now()
    issue.approved_by = by or os.environ.get("USER", "")
    issue.save()
    # the draft's restorable versions (~2 KB per story each) can never be restored
    # once the content is frozen: keep the history lines, drop their snapshots
    IssueEdit.objects.filter(issue=issue, snapshot__isnull=False).update(snapshot=None)
    return issue


def content_of(issue: Issue, profile: Profile) -> dict:
    """The frozen content of an approved issue, else (test sends) the live draft."""
    from alliance_digest.services import issue_data

    return issue.frozen if issue.frozen else issue_data(issue, profile)


# ---------------------------------------------------------------- messages ---

def _domain(profile: Profile) -> str:
    address = parseaddr(profile.email.from_address)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "localhost"


def message_id(profile: Profile, issue: Issue, recipient: str) -> str:
    """Deterministic per (issue, recipient): a repeated message is recognisably the same one.

    Keyed with the workspace's secret, so nobody outside can work it out:
    a bounce counts only when it quotes one (``bounces.process``).
    """
    from django.utils.crypto import salted_hmac

    digest = salted_hmac("alliance_digest.delivery.message_id",
                         f"{issue.volume}.{issue.number}|{recipient.lower()}", algorithm="sha256").hexdigest()[:24]
    return f"<digest-{issue.volume}.{issue.number}-{digest}@{_domain(profile)}>"


@dataclass
class Built:
    """One recipient's message, ready for the wire."""

    message_id: str
    data: bytes  # CRLF lines, DKIM-Signature first when a key is set
    smtputf8: bool = False  # the recipient's address is not ASCII before the @: only SMTPUTF8 can carry it

    def as_message(self):
        return message_from_bytes(self.data, policy=SMTP_POLICY)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")


def _header(name: str, value: str) -> str:
    """One header line; CR, LF and other control characters never reach it (no header injection).

    An ASCII value is folded only at its spaces and never encoded, so URLs
    and addresses stay literal (``List-Unsubscribe``: RFC 2369/8058 readers
    do not decode RFC 2047); a value that is not ASCII (subjects, names) is
    RFC 2047-encoded by the email package.
    """
    value = _CONTROL.sub(" ", value)
    if value.isascii():
        return _fold(name, value)
    holder = EmailMessage(policy=SMTP_POLICY)
    holder[name] = value
    return holder.as_string().split("\r\n\r\n", 1)[0] + "\r\n"


def _fold(name: str, value: str, width: int = 78) -> str:
    """``name: value``, folded before a space where a line would pass ``width`` (a longer word stays whole)."""
    if len(name) + 2 + len(value) <= width:
        return f"{name}: {value}\r\n"
    lines, current = [], f"{name}:"
    for word in value.split(" "):
        if word and len(current) + 1 + len(word) > width and current.strip() and current != f"{name}:":
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
    lines.append(current)
    return "\r\n".join(lines) + "\r\n"


def _mailbox(name: str, address: str) -> str:
    """``Name <address>`` for the To header: the name quoted or RFC 2047-encoded, never a raw line break."""
    name = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", name or "")).strip()
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address))
    shown = formataddr((name, "x@x.invalid"))  # the name's form; the SMTPUTF8 address goes in as it is
    return shown[:-len("<x@x.invalid>")] + f"<{address}>"


class MessageFactory:
    """Renders an issue once; builds each recipient's message from it cheaply.

    The two bodies are rendered once with a placeholder for the recipient's
    unsubscribe link; per recipient only the link is substituted, the parts
    are base64-encoded (so no line or escape can break on the substitution)
    and the headers are written. This keeps a send close to the speed of the
    SMTP connection itself.
    """

    def __init__(self, profile: Profile, issue: Issue, test: bool = False):
        from alliance_digest.render.email import build_email

        self.profile, self.issue, self.test = profile, issue, test
        data = content_of(issue, profile)
        web_url = f"{profile.site_url.rstrip('/')}/issues/{issue.volume}-{issue.number}/" if profile.site_url else None
        self.parts = build_email(data, profile, unsubscribe_url=None if test else PLACEHOLDER, web_url=web_url)
        settings = profile.email
        fixed = [_header("Subject", ("[TEST] " if test else "") + self.parts.subject),
                 _header("From", settings.from_address)]
        if settings.reply_to:
            fixed.append(_header("Reply-To", settings.reply_to))
        if settings.list_id:
            fixed.append(_header("List-Id", settings.list_id))
        fixed.append("MIME-Version: 1.0\r\n")
        self._fixed = "".join(fixed)
        self._mailto = (f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>"
                        if settings.unsubscribe_mailto else "")
        self._dkim = _load_dkim(profile)

    def build(self, recipient: str, name: str = "", unsubscribe_url: str | None = None) -> Built:
        """``recipient``: the address as SMTP carries it (:func:`subscribers.wire_address`)."""
        msgid = (message_id(self.profile, self.issue, recipient) if not self.test
                 else make_msgid("digest-test", _domain(self.profile)))
        to = _mailbox(name, recipient)
        to_line = _header("To", to) if to.isascii() else f"To: {to}\r\n"  # SMTPUTF8: the address as it is
        head = [self._fixed, to_line,
                _header("Date", format_datetime(timezone.now())), f"Message-ID: {msgid}\r\n",
                # the same keyed id again: email services that replace the Message-ID (Amazon SES) keep
                # other headers, and a bounce that returns them is still recognised (bounces.py)
                f"X-Digest-Ref: {msgid}\r\n"]
        text, html = self.parts.text, self.parts.html
        if unsubscribe_url:
            targets = f"<{unsubscribe_url}>" + (f", {self._mailto}" if self._mailto else "")
            head += [_header("List-Unsubscribe", targets), "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"]
            text, html = text.replace(PLACEHOLDER, unsubscribe_url), html.replace(PLACEHOLDER, unsubscribe_url)
        boundary = "==digest-" + hashlib.sha1(msgid.encode()).hexdigest()[:24]
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
        body = []
        for subtype, content in (("plain", text), ("html", html)):
            body.append(f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
                        f"Content-Transfer-Encoding: base64\r\n\r\n")
            body.append(base64.encodebytes(content.encode("utf-8")).decode("ascii").replace("\n", "\r\n"))
        body.append(f"--{boundary}--\r\n")
        data = ("".join(head) + "".join(body)).encode("utf-8")  # ASCII unless the address needs SMTPUTF8
        if self._dkim:
            data = _dkim_header(data, *self._dkim) + data
        return Built(msgid, data, smtputf8=not recipient.isascii())


def _load_dkim(profile: Profile):
    settings = profile.email
    if not settings.dkim_key:
        return None
    path = profile.resolve(settings.dkim_key)
    try:
        key = open(path, "rb").read()
    except OSError as exc:
        raise DeliveryError(f"{path}: cannot read the DKIM key ({exc.strerror})") from None
    if not (settings.dkim_selector and settings.dkim_domain):
        raise DeliveryError("email.dkim_key is set: set email.dkim_selector and email.dkim_domain too")
    return key, settings.dkim_selector, settings.dkim_domain


def _dkim_header(data: bytes, key: bytes, selector: str, domain: str) -> bytes:
    import dkim

    headers = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To", b"List-Id",
               b"List-Unsubscribe", b"List-Unsubscribe-Post"]
    return dkim.sign(data, selector.encode(), domain.encode(), key, include_headers=headers,
                     linesep=b"\r\n")


# -------------------------------------------------------------------- SMTP ---

class TemporaryFailure(Exception):
    pass


class ServerUnreachable(TemporaryFailure):
    """No connection could be opened: nothing was sent."""


class ServerBusy(TemporaryFailure):
    """The server turned a new connection away for now (421 at the greeting): nothing was sent."""


class ServerRefused(Exception):
    """A refusal that is not about one recipient (policy, relay, sender, authentication, the message
    itself): it would hit every message, so the send pauses and the rows stay queued."""


class PermanentFailure(Exception):
    """This recipient cannot get the message. ``unknown_user``: the mailbox does not exist (bounce).
    ``uncertain``: a refusal we cannot attribute; if many come in a row, they are put back in the queue."""

    def __init__(self, message: str, unknown_user: bool = False, uncertain: bool = False):
        super().__init__(message)
        self.unknown_user = unknown_user
        self.uncertain = uncertain


# RFC 3463 enhanced status code at the start of the reply's text: class.subject.detail
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
# words of replies that are about the sender, the sending host or the message, not about one recipient
_NOT_RECIPIENT = re.compile(
    r"relay|authenticat|\bauth\b|sender|policy|spam|block|blacklist|denylist|reputation|rate.?limit|"
    r"too many|message (is )?(rejected|refused|content)|content rejected|\bdmarc\b|\bspf\b|\bdkim\b", re.I)
# replies that name the recipient as what is refused, and replies about relaying (which hit everyone)
_ABOUT_RECIPIENT = re.compile(r"recipient|<[^<>@\s]+@[^<>\s]+>|\baddress (is )?(rejected|blacklisted|blocked)", re.I)
_RELAY = re.compile(r"relay|authenticat|\bauth\b|sender", re.I)
# replies that clearly say the mailbox does not exist (when there is no enhanced code to say so)
_NO_MAILBOX = re.compile(
    r"user unknown|unknown (user|recipient|mailbox)|no such (user|mailbox|recipient|address|account)|"
    r"(user|mailbox|recipient|account|address)\b[^.;,]{0,60}\b(does not exist|doesn't exist|not found|"
    r"unknown|invalid)|invalid (recipient|mailbox)|not a valid (recipient|mailbox)", re.I)


def _reply(code: int, text: bytes | str) -> str:
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())}".strip()


def _classify(code: int, text: bytes | str, stage: str = "rcpt") -> Exception:
    """What an SMTP refusal means for the send. ``stage``: the command refused (mail, rcpt, data).

    4xx: try this recipient again later. 5xx at MAIL FROM: about the sender, for
    everyone. An enhanced code decides when there is one: x.1.x (but 5.1.7/5.1.8, the
    sender's address) = this mailbox does not exist -> bounce; x.2.x = this mailbox
    (full, disabled) -> failed; x.4.x at RCPT = routing to this recipient -> failed;
    x.7.x security/policy/relay, x.3.x, x.5.x, x.6.x -> the whole send pauses. Without
    one (or x.0.x), the words decide; a refusal at DATA that names no recipient pauses.
    """
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    reply = _reply(code, text)
    if 400 <= code < 500:
        return TemporaryFailure(reply)
    if stage == "mail":
        return ServerRefused(reply)
    enhanced = _ENHANCED.match(text)
    if enhanced and enhanced.group(1) == "5" and enhanced.group(2) != "0":
        subject, detail = int(enhanced.group(2)), int(enhanced.group(3))
        if subject == 1 and detail not in (7, 8):
            return PermanentFailure(reply, unknown_user=True)
        if subject == 2 or (subject == 4 and stage == "rcpt"):
            return PermanentFailure(reply)
        if stage == "rcpt" and _ABOUT_RECIPIENT.search(text) and not _RELAY.search(text):
            # "Recipient address rejected: Access denied": this one recipient's server or policy;
            # failed for this row (many in a row still put back and pause, see the streak)
            return PermanentFailure(reply, uncertain=True)
        return ServerRefused(reply)
    if stage == "rcpt" and _ABOUT_RECIPIENT.search(text) and not _RELAY.search(text):
        return PermanentFailure(reply, uncertain=True)
    if _NOT_RECIPIENT.search(text):
        return ServerRefused(reply)
    if code in (550, 551, 553) and _NO_MAILBOX.search(text):
        return PermanentFailure(reply, unknown_user=True)
    if stage == "rcpt":
        return PermanentFailure(reply, uncertain=True)
    return ServerRefused(reply)


class SmtpSender:
    """One reusable SMTP connection (opened on first use, reopened after a drop)."""

    def __init__(self, profile: Profile):
        self.settings = profile.email
        self.conn: smtplib.SMTP | None = None

    @property
    def server(self) -> str:
        return f"SMTP server {self.settings.smtp_host}:{self.settings.smtp_port}"

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "tls":
                conn = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=30, context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                conn.login(s.smtp_user, os.environ.get(s.smtp_password_env, ""))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP server {s.smtp_host}:{s.smtp_port} refused the credentials of "
                                f"{s.smtp_user!r} ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"SMTP server {s.smtp_host}:{s.smtp_port} does not offer STARTTLS; "
                                f"set email.smtp_security") from None
        except smtplib.SMTPConnectError as exc:  # the greeting was not 220
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:  # 421 "too many connections": busy, not down
                raise ServerBusy(f"{self.server} turned a connection away ({reply})") from None
            raise ServerUnreachable(f"{self.server} refuses connections ({reply})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"cannot connect to SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from None
        return conn

    def _refused(self, code: int, text: bytes | str, stage: str) -> Exception:
        if code == 421:  # smtplib has closed the connection: the next message opens a new one
            self.close(quiet=True)
        return _classify(code, text, stage)

    def send(self, built: Built, sender: str, recipient: str) -> None:
        if self.conn is None:
            self.conn = self._open()
        options: list[str] = []
        if built.smtputf8 or not recipient.isascii():
            try:
                self.conn.ehlo_or_helo_if_needed()
            except (smtplib.SMTPException, OSError) as exc:
                self.close(quiet=True)
                raise TemporaryFailure(f"connection dropped: {exc}") from None
            if not self.conn.has_extn("smtputf8"):
                raise PermanentFailure(f"the address has non-ASCII characters before the @, and {self.server} "
                                       f"does not offer SMTPUTF8, which such an address needs; not sent")
            options = ["SMTPUTF8"]
        try:
            refused = self.conn.sendmail(sender, [recipient], built.data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise self._refused(code, text, "rcpt") from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._refused(exc.smtp_code, exc.smtp_error, "mail") from None
        except smtplib.SMTPDataError as exc:
            raise self._refused(exc.smtp_code, exc.smtp_error, "data") from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, socket.timeout, OSError) as exc:
            self.close(quiet=True)
            raise TemporaryFailure(f"connection dropped: {exc}") from None
        except smtplib.SMTPResponseException as exc:  # e.g. HELO refused: not about the recipient
            self.close(quiet=True)
            raise self._refused(exc.smtp_code, exc.smtp_error, "mail") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise self._refused(code, text, "rcpt")

    def close(self, quiet: bool = False) -> None:
        if self.conn is not None:
            try:
                self.conn.quit() if not quiet else self.conn.close()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


class BackendSender:
    """A Django email backend (e.g. django-anymail's) for email service providers."""

    def __init__(self, profile: Profile):
        from alliance_digest.mailer import email_connection

        self.connection = email_connection(profile)

    def send(self, built: Built, sender: str, recipient: str) -> None:
        """The prepared MIME goes as it is (providers add their own signatures)."""
        from django.core.mail import EmailMessage as DjangoMessage

        msg = built.as_message()

        class Raw(DjangoMessage):
            def message(self_inner):  # the prepared MIME, untouched
                return msg

        try:
            self.connection.send_messages([Raw(from_email=sender, to=[recipient])])
        except Exception as exc:  # providers raise their own types
            raise TemporaryFailure(f"{exc.__class__.__name__}: {exc}") from None

    def close(self, quiet: bool = False) -> None:
        self.connection.close()


def make_sender(profile: Profile):
    return SmtpSender(profile) if profile.email.backend == "smtp" else BackendSender(profile)


# -------------------------------------------------------------------- send ---

@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    retried: int = 0
    already_sent: int = 0
    skipped: int = 0
    finished: bool = False
    paused: str = ""
    deferred: int = 0  # recipients left queued after temporary errors, to be tried again later
    deferred_note: str = ""  # ... and what to do about them, in one line
    published: bool = False  # this send put the issue on the public archive (its email links there)
    errors: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # dry run: who would get it

    def summary(self) -> str:
        state = "finished" if self.finished else (f"PAUSED: {self.paused}" if self.paused else "not finished")
        text = (f"send {state}: {self.sent} sent now, {self.already_sent} sent before, {self.failed} failed "
                f"({self.bounced} bounced), {self.retried} retries")
        if self.deferred_note and not self.finished:
            text += f"; {self.deferred_note}"
        return text


class _RateLimiter:
    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(self.next_at, now)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def _envelope_address(address: str) -> str:
    from alliance_digest.subscribers import InvalidAddress, wire_address

    try:
        return wire_address(address)
    except InvalidAddress as exc:
        raise DeliveryError(str(exc)) from None


def send_test(profile: Profile, issue: Issue, addresses: list[str]) -> list[str]:
    """Send the issue (draft or approved) to test addresses; no ledger, no unsubscribe link."""
    from alliance_digest.subscribers import InvalidAddress, normalise, wire_address

    factory = MessageFactory(profile, issue, test=True)
    sender = make_sender(profile)
    envelope_from = _envelope_address(parseaddr(profile.email.from_address)[1])
    sent = []
    try:
        for address in addresses:
            try:
                recipient = wire_address(normalise(address))
            except InvalidAddress as exc:
                raise DeliveryError(f"{address!r}: {exc}") from None
            try:
                sender.send(factory.build(recipient), envelope_from, recipient)
            except (TemporaryFailure, PermanentFailure, ServerRefused) as exc:
                raise DeliveryError(f"{recipient}: {exc}") from None
            sent.append(recipient)
    finally:
        sender.close()
    return sent


def prepare_ledger(issue: Issue) -> int:
    """One queued row per active subscriber without one; rows a crash left ``sending`` go back to the queue."""
    Delivery.objects.filter(issue=issue, status=Delivery.Status.SENDING).update(status=Delivery.Status.QUEUED)
    existing = Delivery.objects.filter(issue=issue).values_list("subscriber_id", flat=True)
    ids = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).exclude(pk__in=existing).values_list(
        "pk", flat=True).iterator(chunk_size=2000)
    created = 0
    batch: list[Delivery] = []
    for pk in ids:
        batch.append(Delivery(issue=issue, subscriber_id=pk))
        if len(batch) >= 2000:
            Delivery.objects.bulk_create(batch, ignore_conflicts=True)
            created += len(batch)
            batch = []
    if batch:
        Delivery.objects.bulk_create(batch, ignore_conflicts=True)
        created += len(batch)
    return created


def _when(moment) -> str:
    """A time for people: 14:35 UTC (with the date when it is not today)."""
    local, today = timezone.localtime(moment), timezone.localtime(timezone.now()).date()
    return local.strftime("%H:%M %Z" if local.date() == today else "%Y-%m-%d %H:%M %Z").strip()


_PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net")
_PLACEHOLDER_TLDS = ("example", "invalid", "test", "localhost")


def _placeholder(host: str) -> bool:
    """A reserved name (RFC 2606/6761): nothing real answers there."""
    host = (host or "").lower().rstrip(".")
    return (host in _PLACEHOLDER_DOMAINS or host.endswith(tuple("." + d for d in _PLACEHOLDER_DOMAINS))
            or host.rpartition(".")[2] in _PLACEHOLDER_TLDS)


def placeholder_warnings(profile: Profile) -> list[str]:
    """What in the profile is still the example (the default profile's placeholders) and would break a real send.

    Subscribers' unsubscribe and "View in your browser" links point at
    ``site_url``; replies and bounces go to the From address: left at the
    placeholders, the links are dead (a compliance problem, not only a
    cosmetic one) and returned mail is lost. Said before every real send.
    """
    from urllib.parse import urlsplit

    warnings = []
    site = profile.site_url or ""
    if not site.strip():
        warnings.append("[digest] site_url is empty: the unsubscribe and web links in these emails would be "
                        "relative, and dead in a mail reader; set it to where the site answers")
    elif _placeholder(urlsplit(site).hostname or ""):
        warnings.append(f"[digest] site_url is {site}, a placeholder: the unsubscribe and web links in these "
                        "emails will not work; set it to where the site answers")
    sender = parseaddr(profile.email.from_address)[1]
    if _placeholder(sender.rpartition("@")[2]):
        warnings.append(f"[email] from is {sender}, a placeholder domain: replies and bounces will be lost")
    return warnings


def send_issue(profile: Profile, issue: Issue, dry_run: bool = False,
               progress: Callable[[int], None] | None = None,
               stop: threading.Event | None = None,
               notice: Callable[[str], None] | None = None) -> SendReport:
    """Send an approved issue to every active subscriber who has not got it; resumable.

    An approved issue is published first (see ``SendReport.published``).
    Everyone who can be reached now is sent to first; a recipient whose
    server answered with a temporary error is tried again in this run while
    the back-off is short (``RETRY_WAIT_SECONDS``; ``notice`` gets a line for
    each wait), else left queued with its next-attempt time
    (``SendReport.deferred_note`` says when to run again).
    """
    from alliance_digest.tokens import unsubscribe_url

    if issue.status == Issue.Status.DRAFT:
        raise DeliveryError(f"issue {issue.key} is not approved: run `digest approve {issue.key}` first "
                            f"(or send a test with --test ADDRESS)")
    if not Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).exists() and \
            not Delivery.objects.filter(issue=issue).exists():
        raise DeliveryError("no active subscribers: nobody to send to (see `digest subscribers list`)")
    if issue.send_state == "sending" and _alive(issue.send_note):
        raise DeliveryError(f"a send of issue {issue.key} is already running ({issue.send_note}); "
                            f"stop it first (Ctrl-C) or wait for it")
    seen_state, seen_note = issue.send_state, issue.send_note  # for the compare-and-set below
    report = SendReport()
    prepare_ledger(issue)
    report.already_sent = Delivery.objects.filter(issue=issue, status=Delivery.Status.SENT).count()
    if dry_run:
        report.recipients = list(
            Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED,
                                    subscriber__status=Subscriber.Status.ACTIVE)
            .order_by("subscriber__email_normalized").values_list("subscriber__email", flat=True))
        report.skipped = len(report.recipients)
        return report
    if issue.status == Issue.Status.APPROVED:
        # The email's "View in your browser" and PDF links lead to the archive: sending publishes, so that
        # no subscriber follows a link that answers 404 (the pipeline's order: deliver, then archive).
        from alliance_digest import publishing

        try:
            issue = publishing.publish(profile, issue)
            report.published = True
            publishing.warm_pdf_edition(profile, issue)  # made while the messages go out
        except publishing.PublishError:  # published meanwhile (by another editor): what matters holds
            issue.refresh_from_db()
    factory = MessageFactory(profile, issue)
    settings = profile.email
    envelope_from = _envelope_address(parseaddr(settings.from_address)[1])
    limiter = _RateLimiter(settings.rate_per_second)
    lock = threading.Lock()
    state = {"consecutive": 0, "prefetch": [], "paused": "", "streak": [], "workers": 0,
             "connections": max(1, settings.concurrency), "busy_tries": 0, "last_temporary": ""}
    stop = stop or threading.Event()
    say = notice or (lambda line: None)
    mine = f"pid {os.getpid()} on {socket.gethostname()}"
    # two sends started at the same moment both passed the check above: the one that marks the issue
    # first sends, the other stops here (the ledger would keep them from doubling up, but one report
    # of the whole send is what an operator can trust)
    if not Issue.objects.filter(pk=issue.pk, send_state=seen_state, send_note=seen_note).update(
            send_state="sending", send_note=mine, updated_at=timezone.now()):
        issue.refresh_from_db()
        raise DeliveryError(f"a send of issue {issue.key} started at the same moment ({issue.send_note}); "
                            "it is sending to everyone, this one stopped")
    issue.send_state, issue.send_note = "sending", mine

    def claim() -> tuple | None:
        """The next queued row, marked ``sending``: (delivery id, attempts, subscriber fields)."""
        with lock:
            while True:
                if not state["prefetch"]:
                    now = timezone.now()
                    queued = Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED).exclude(
                        next_attempt_at__gt=now)
                    # who left the list since the ledger was made gets nothing
                    queued.exclude(subscriber__status=Subscriber.Status.ACTIVE).update(
                        status=Delivery.Status.FAILED, last_error="subscriber no longer active; not sent")
                    state["prefetch"] = list(
                        queued.filter(subscriber__status=Subscriber.Status.ACTIVE).order_by("id")
                        .values_list("id", "attempts", "subscriber_id", "subscriber__email",
                                     "subscriber__email_normalized", "subscriber__name")[:PREFETCH])
                    if not state["prefetch"]:
                        return None
                row = state["prefetch"].pop(0)
                if Delivery.objects.filter(pk=row[0], status=Delivery.Status.QUEUED).update(
                        status=Delivery.Status.SENDING, attempts=F("attempts") + 1) == 1:
                    return row

    def requeue(pk: int, error: str = "") -> None:
        """Nothing was handed over: back to the queue, the attempt not counted."""
        fields = {"status": Delivery.Status.QUEUED, "attempts": F("attempts") - 1}
        if error:
            fields["last_error"] = error
        Delivery.objects.filter(pk=pk).update(**fields)

    def pause(message: str) -> None:
        with lock:
            if not state["paused"]:
                state["paused"] = message
        stop.set()
        put_back_streak()

    def put_back_streak() -> None:
        """Refusals we could not attribute to their recipients, in a row up to a pause: the cause was
        more likely the server's; back to the queue, so a run after the fix reaches them."""
        with lock:
            rows, state["streak"] = state["streak"], []
            report.failed -= len(rows)
        if rows:
            Delivery.objects.filter(pk__in=rows, status=Delivery.Status.FAILED).update(
                status=Delivery.Status.QUEUED)

    def record_failure(message: str, uncertain_pk: int | None = None) -> None:
        with lock:
            state["consecutive"] += 1
            report.errors.append(message)
            if uncertain_pk is not None:
                state["streak"].append(uncertain_pk)
            limit_hit = state["consecutive"] >= settings.max_consecutive_errors and not state["paused"]
            if limit_hit:
                state["paused"] = (f"{state['consecutive']} failures in a row (last: {message}); "
                                   f"fix the cause and run `digest send {issue.key}` again")
            paused = bool(state["paused"])
        if limit_hit:
            stop.set()
        if paused:
            put_back_streak()

    def turned_away(exc: ServerBusy) -> str:
        """A connection turned away (421): while other connections work, this worker ends (one connection
        fewer, for the rest of the send: "left"); the last one backs off and tries again ("retry"), and
        pauses the send when the server still turns it away ("end")."""
        with lock:
            if state["workers"] > 1:
                state["workers"] -= 1
                state["connections"] = left = state["workers"]
                tries = -1
            else:
                tries = state["busy_tries"]
                state["busy_tries"] += 1
        if tries < 0:
            say(f"{exc}; going on with {left} connection(s)")
            return "left"
        if tries >= len(BUSY_BACKOFF_SECONDS):
            pause(f"{exc}, and still after retrying for {sum(BUSY_BACKOFF_SECONDS):g} s; "
                  f"run `digest send {issue.key}` again later")
            return "end"
        wait = BUSY_BACKOFF_SECONDS[tries]
        say(f"{exc}; trying again in {wait:g} s")
        stop.wait(wait)
        return "end" if stop.is_set() else "retry"

    def worker() -> None:
        from alliance_digest.subscribers import InvalidAddress, wire_address

        sender = make_sender(profile)
        counted = True  # in state["workers"]
        try:
            while not stop.is_set():
                row = claim()
                if row is None:
                    return
                delivery = Delivery(pk=row[0], attempts=row[1] + 1, subscriber_id=row[2])
                sub = Subscriber(pk=row[2], email=row[3], email_normalized=row[4], name=row[5])
                try:
                    recipient = wire_address(sub.email)
                    msg = factory.build(recipient, sub.name, unsubscribe_url(profile, sub))
                    limiter.wait()
                    sender.send(msg, envelope_from, recipient)
                except ServerBusy as exc:  # nothing was handed over
                    requeue(delivery.pk)
                    outcome = turned_away(exc)
                    if outcome == "retry":
                        continue
                    counted = outcome != "left"  # "left": no longer counted among the workers
                    return
                except ServerUnreachable as exc:  # nothing was handed over: pause, resume later
                    requeue(delivery.pk)
                    pause(f"{exc}; run `digest send {issue.key}` again when it is reachable")
                    return
                except ServerRefused as exc:  # would hit everyone: nobody is marked failed
                    requeue(delivery.pk, str(exc))
                    pause(f"{sender.server if isinstance(sender, SmtpSender) else 'the mail server'} refused "
                          f"the message for a reason that is not about its recipient ({exc}); nobody was marked "
                          f"failed: fix the cause and run `digest send {issue.key}` again")
                    return
                except TemporaryFailure as exc:
                    _temporary(delivery, str(exc), report, lock)
                    with lock:
                        state["last_temporary"] = f"{sub.email}: {exc}"
                    record_failure(f"{sub.email}: {exc}")
                    continue
                except PermanentFailure as exc:
                    _permanent(delivery, sub, exc, report, lock)
                    record_failure(f"{sub.email}: {exc}", delivery.pk if exc.uncertain else None)
                    continue
                except InvalidAddress as exc:
                    failure = PermanentFailure(str(exc))
                    _permanent(delivery, sub, failure, report, lock)
                    record_failure(f"{sub.email}: {exc}")
                    continue
                except DeliveryError as exc:  # credentials, STARTTLS: no point going on
                    requeue(delivery.pk)
                    pause(str(exc))
                    return
                except Exception as exc:  # noqa: BLE001 - one message's fault must not end the worker
                    sender.close(quiet=True)
                    failure = PermanentFailure(f"not sent: {type(exc).__name__}: {exc}", uncertain=True)
                    _permanent(delivery, sub, failure, report, lock)
                    record_failure(f"{sub.email}: {failure}", delivery.pk)
                    continue
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=Delivery.Status.SENT, message_id=msg.message_id, sent_at=timezone.now(), last_error="")
                with lock:
                    report.sent += 1
                    state["consecutive"] = 0
                    state["busy_tries"] = 0
                    state["streak"] = []  # the server delivers: those refusals were about their recipients
                if progress:
                    progress(1)
        finally:
            if counted:
                with lock:
                    state["workers"] -= 1
            sender.close()
            close_old_connections()

    try:
        while True:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(state["connections"])]
            state["workers"] = len(threads)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if stop.is_set():
                break
            pending = Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED)
            if not pending.exists():
                break
            now = timezone.now()
            if pending.exclude(next_attempt_at__gt=now).exists():
                continue  # due now (a row a turned-away connection put back)
            wake = pending.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
            delay = max(0.0, (wake - now).total_seconds())
            waiting = pending.count()
            if delay > RETRY_WAIT_SECONDS:  # don't hold the command for minutes: say when to run it again
                report.deferred = waiting
                report.deferred_note = (
                    f"{waiting} recipient{'s' if waiting != 1 else ''} deferred after temporary errors; run "
                    f"`digest send {issue.key}` again later (next try after {_when(wake + timedelta(seconds=59))})")
                break
            say(f"waiting {math.ceil(delay)} s to try {waiting} recipient(s) again after temporary errors "
                f"(last: {state['last_temporary'] or 'see the ledger'})")
            stop.wait(delay)
            if stop.is_set():
                break
    finally:
        Delivery.objects.filter(issue=issue, status=Delivery.Status.SENDING).update(status=Delivery.Status.QUEUED)
        left = Delivery.objects.filter(issue=issue, status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])
        report.finished = not left.exists()
        report.paused = state["paused"]
        if report.finished or report.paused:
            report.deferred, report.deferred_note = 0, ""
        issue.send_state = ("finished" if report.finished else
                            "paused" if report.paused or report.deferred_note else "stopped")
        issue.send_note = report.paused or report.deferred_note
        issue.save(update_fields=["send_state", "send_note", "updated_at"])
    return report


def _alive(note: str) -> bool:
    """Whether the process named in a send note ("pid N on HOST") still runs here."""
    parts = note.split()
    if len(parts) < 4 or parts[0] != "pid" or parts[3] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(parts[1]) != os.getpid()


def _temporary(delivery: Delivery, error: str, report: SendReport, lock: threading.Lock) -> None:
    attempts = delivery.attempts  # counted when the row was claimed
    if attempts >= MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=error)
        with lock:
            report.failed += 1
        return
    wait = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.QUEUED, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=wait))
    with lock:
        report.retried += 1


def _permanent(delivery: Delivery, subscriber: Subscriber, exc: PermanentFailure, report: SendReport,
               lock: threading.Lock) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error=str(exc))
        if exc.unknown_user:
            Subscriber.objects.filter(pk=subscriber.pk).update(
                status=Subscriber.Status.BOUNCED, last_bounce_at=timezone.now(), last_bounce=str(exc))
    with lock:
        report.failed += 1
        report.bounced += int(exc.unknown_user)


def ledger_summary(issue: Issue) -> dict[str, int]:
    from django.db.models import Count

    rows = Delivery.objects.filter(issue=issue).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}
