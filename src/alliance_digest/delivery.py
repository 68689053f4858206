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
exponential back-off; permanent ones (5xx) fail the row, and unknown-user
replies (550 5.1.1) mark the subscriber bounced. Too many failures in a row
pause the send with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import os
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
    """Deterministic per (issue, recipient): a repeated message is recognisably the same one."""
    digest = hashlib.sha256(f"{issue.volume}.{issue.number}|{recipient.lower()}".encode()).hexdigest()[:24]
    return f"<digest-{issue.volume}.{issue.number}-{digest}@{_domain(profile)}>"


@dataclass
class Built:
    """One recipient's message, ready for the wire."""

    message_id: str
    data: bytes  # CRLF lines, DKIM-Signature first when a key is set

    def as_message(self):
        return message_from_bytes(self.data, policy=SMTP_POLICY)


def _header(name: str, value: str) -> str:
    """One folded header line, RFC 2047-encoded where it is not ASCII (subjects, names)."""
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}\r\n"
    holder = EmailMessage(policy=SMTP_POLICY)
    holder[name] = value
    return holder.as_string().split("\r\n\r\n", 1)[0] + "\r\n"


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
        msgid = (message_id(self.profile, self.issue, recipient) if not self.test
                 else make_msgid("digest-test", _domain(self.profile)))
        head = [self._fixed, _header("To", formataddr((name, recipient)) if name else recipient),
                _header("Date", format_datetime(timezone.now())), f"Message-ID: {msgid}\r\n"]
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
        data = ("".join(head) + "".join(body)).encode("ascii")
        if self._dkim:
            data = _dkim_header(data, *self._dkim) + data
        return Built(msgid, data)


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


class PermanentFailure(Exception):
    def __init__(self, message: str, unknown_user: bool = False):
        super().__init__(message)
        self.unknown_user = unknown_user


def _classify(code: int, text: bytes | str) -> Exception:
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    reply = f"{code} {text}".strip()
    if 400 <= code < 500:
        return TemporaryFailure(reply)
    unknown = code in (550, 551, 553) and ("5.1.1" in text or "unknown" in text.lower()
                                          or "no such user" in text.lower() or "does not exist" in text.lower())
    return PermanentFailure(reply, unknown_user=unknown)


class SmtpSender:
    """One reusable SMTP connection (opened on first use, reopened after a drop)."""

    def __init__(self, profile: Profile):
        self.settings = profile.email
        self.conn: smtplib.SMTP | None = None

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
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"cannot connect to SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from None
        return conn

    def send(self, built: Built, sender: str, recipient: str) -> None:
        if self.conn is None:
            self.conn = self._open()
        try:
            refused = self.conn.sendmail(sender, [recipient], built.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, socket.timeout, OSError) as exc:
            self.close(quiet=True)
            raise TemporaryFailure(f"connection dropped: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _classify(code, text)

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
    published: bool = False  # this send put the issue on the public archive (its email links there)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        state = "finished" if self.finished else (f"PAUSED: {self.paused}" if self.paused else "not finished")
        return (f"send {state}: {self.sent} sent now, {self.already_sent} sent before, {self.failed} failed "
                f"({self.bounced} bounced), {self.retried} retries")


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


def send_test(profile: Profile, issue: Issue, addresses: list[str]) -> list[str]:
    """Send the issue (draft or approved) to test addresses; no ledger, no unsubscribe link."""
    from alliance_digest.subscribers import InvalidAddress, normalise

    factory = MessageFactory(profile, issue, test=True)
    sender = make_sender(profile)
    sent = []
    try:
        for address in addresses:
            try:
                recipient = normalise(address)
            except InvalidAddress as exc:
                raise DeliveryError(f"{address!r}: {exc}") from None
            try:
                sender.send(factory.build(recipient), parseaddr(profile.email.from_address)[1], recipient)
            except (TemporaryFailure, PermanentFailure) as exc:
                raise DeliveryError(f"test send to {recipient} failed: {exc}") from None
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


def send_issue(profile: Profile, issue: Issue, dry_run: bool = False,
               progress: Callable[[int], None] | None = None,
               stop: threading.Event | None = None) -> SendReport:
    """Send an approved issue to every active subscriber who has not got it; resumable.

    An approved issue is published first (see ``SendReport.published``).
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
    report = SendReport()
    prepare_ledger(issue)
    report.already_sent = Delivery.objects.filter(issue=issue, status=Delivery.Status.SENT).count()
    if dry_run:
        queued = Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED).count()
        report.skipped = queued
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
    envelope_from = parseaddr(settings.from_address)[1]
    limiter = _RateLimiter(settings.rate_per_second)
    lock = threading.Lock()
    state = {"consecutive": 0, "prefetch": [], "paused": ""}
    stop = stop or threading.Event()
    issue.send_state, issue.send_note = "sending", f"pid {os.getpid()} on {socket.gethostname()}"
    issue.save(update_fields=["send_state", "send_note", "updated_at"])

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

    def record_failure(message: str) -> None:
        with lock:
            state["consecutive"] += 1
            report.errors.append(message)
            if state["consecutive"] >= settings.max_consecutive_errors and not state["paused"]:
                state["paused"] = (f"{state['consecutive']} failures in a row (last: {message}); "
                                   f"fix the cause and run `digest send {issue.key}` again")
                stop.set()

    def worker() -> None:
        sender = make_sender(profile)
        try:
            while not stop.is_set():
                row = claim()
                if row is None:
                    return
                delivery = Delivery(pk=row[0], attempts=row[1] + 1, subscriber_id=row[2])
                sub = Subscriber(pk=row[2], email=row[3], email_normalized=row[4], name=row[5])
                msg = factory.build(sub.email, sub.name, unsubscribe_url(profile, sub))
                limiter.wait()
                try:
                    sender.send(msg, envelope_from, sub.email)
                except ServerUnreachable as exc:  # nothing was handed over: pause, resume later
                    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.QUEUED,
                                                                   attempts=F("attempts") - 1)
                    with lock:
                        state["paused"] = f"{exc}; run `digest send {issue.key}` again when it is reachable"
                    stop.set()
                    return
                except TemporaryFailure as exc:
                    _temporary(delivery, str(exc), report, lock)
                    record_failure(f"{sub.email}: {exc}")
                    continue
                except PermanentFailure as exc:
                    _permanent(delivery, sub, exc, report, lock)
                    record_failure(f"{sub.email}: {exc}")
                    continue
                except DeliveryError as exc:  # credentials, STARTTLS: no point going on
                    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.QUEUED)
                    with lock:
                        state["paused"] = str(exc)
                    stop.set()
                    return
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=Delivery.Status.SENT, message_id=msg.message_id, sent_at=timezone.now(), last_error="")
                with lock:
                    report.sent += 1
                    state["consecutive"] = 0
                if progress:
                    progress(1)
        finally:
            sender.close()
            close_old_connections()

    try:
        while True:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(settings.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if stop.is_set():
                break
            pending = Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED)
            if not pending.exists():
                break
            wake = pending.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
            delay = max(0.0, (wake - timezone.now()).total_seconds()) if wake else 0.0
            stop.wait(min(delay, 60.0))
            if stop.is_set():
                break
    finally:
        Delivery.objects.filter(issue=issue, status=Delivery.Status.SENDING).update(status=Delivery.Status.QUEUED)
        left = Delivery.objects.filter(issue=issue, status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])
        report.finished = not left.exists()
        report.paused = state["paused"]
        issue.send_state = "finished" if report.finished else ("paused" if report.paused else "stopped")
        issue.send_note = report.paused
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
