"""The mailing list: adding, confirming (double opt-in), importing and exporting subscribers.

Library first: ``digest subscribers ...`` and the public pages
(:mod:`alliance_digest.web`) are thin layers over these functions.

- Addresses are stripped and lower-cased (:func:`normalise`) for uniqueness;
  the address as given is kept for sending.
- Only ``active`` subscribers receive issues. A sign-up (web form, ``add``
  or an import without ``--confirmed``) leaves the subscriber ``pending`` and
  sends a confirmation email with a signed link that expires after
  ``email.confirm_hours``; following it and pressing the button confirms.
- Re-subscribing after unsubscribing (or a bounce or complaint) goes through
  the same confirmation. An import never re-subscribes such an address.
- The consent record: ``consent_at`` (when consent was given: confirmation,
  or the ``--confirmed`` import/add), ``consent_method`` (how) and
  ``consent_ip`` (the web sign-up's address).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from alliance_digest.mailer import MailError, email_connection

log = logging.getLogger(__name__)

MAX_EMAIL = 320
MAX_NAME = 300
RESEND_SECONDS = 300  # a pending address gets at most one confirmation email per 5 minutes from the web form

EMAIL_HEADERS = {"email", "emailaddress", "emailaddr", "mail", "mailaddress", "address", "emailadresse",
                 "courriel", "correo", "correoelectronico"}
NAME_HEADERS = {"name", "fullname", "displayname", "subscriber", "subscribername", "contactname", "contact"}
FIRST_NAME_HEADERS = {"firstname", "givenname", "first", "forename"}
LAST_NAME_HEADERS = {"lastname", "surname", "familyname", "last"}
EXPORT_FIELDS = ["email", "name", "status", "source", "created_at", "confirmed_at", "unsubscribed_at",
                 "consent_at", "consent_method", "consent_ip"]


class InvalidAddress(ValueError):
    """An email address that cannot be on the list (the message says why, in one line)."""


class ImportFailed(Exception):
    """A CSV file that cannot be imported at all (unreadable, not UTF-8, no email column, no rows)."""


def normalise(email) -> str:
    """The address stripped and lower-cased, or :class:`InvalidAddress`."""
    from django.core.exceptions import ValidationError
    from django.core.validators import EmailValidator

    if not isinstance(email, str) or not email.strip():
        raise InvalidAddress("no email address given")
    value = email.strip()
    shown = value if len(value) <= 80 else value[:77] + "..."
    if len(value) > MAX_EMAIL:
        raise InvalidAddress(f"{shown!r} is too long for an email address (at most {MAX_EMAIL} characters)")
    try:
        EmailValidator()(value)
    except ValidationError:
        raise InvalidAddress(f"{shown!r} is not a valid email address") from None
    local, _, domain = value.rpartition("@")
    if len(local) > 64:
        raise InvalidAddress(f"{shown!r} is not a valid email address (the part before @ is over 64 characters)")
    if "." not in domain.strip("."):
        raise InvalidAddress(f"{shown!r} is not a valid email address (the domain {domain!r} has no dot: "
                             "mail to it cannot leave this machine)")
    if not domain.isascii():
        try:
            ascii_domain(domain)
        except UnicodeError as exc:
            raise InvalidAddress(f"{shown!r}: the domain cannot be used in email ({exc})") from None
    return value.lower()


def ascii_domain(domain: str) -> str:
    """An internationalised domain as DNS and SMTP carry it (IDNA 2008, UTS #46): bücher.de -> xn--bcher-kva.de.

    Raises :class:`UnicodeError` for a domain that has no such form.
    """
    if domain.isascii():
        return domain
    try:
        import idna
    except ImportError:  # pragma: no cover - idna comes with httpx
        return domain.encode("idna").decode("ascii")
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UnicodeError(str(exc) or "not a valid internationalised domain") from None


def wire_address(email: str) -> str:
    """The address as an SMTP envelope and the To header carry it: the domain IDNA-encoded.

    A local part (before the @) that is not ASCII stays as it is: only a
    server offering SMTPUTF8 can take it. :class:`InvalidAddress` when the
    domain has no ASCII form.
    """
    local, at, domain = email.strip().rpartition("@")
    if not at or domain.isascii():
        return email.strip()
    try:
        return f"{local}@{ascii_domain(domain)}"
    except UnicodeError as exc:
        raise InvalidAddress(f"{email!r}: the domain cannot be used in email ({exc})") from None


def address_forms(email: str) -> list[str]:
    """The lower-cased address with its domain as written, in ASCII (xn--) and in Unicode: for look-ups."""
    value = email.strip().lower()
    local, at, domain = value.rpartition("@")
    forms = [value]
    if not at:
        return forms
    try:
        if domain.isascii() and "xn--" in domain:
            import idna

            forms.append(f"{local}@{idna.decode(domain)}")
        elif not domain.isascii():
            forms.append(f"{local}@{ascii_domain(domain)}")
    except (ImportError, UnicodeError, ValueError):
        pass
    return forms


def _clean_name(name) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(name or "")).strip()
    return re.sub(r"\s+", " ", text)[:MAX_NAME]


def _now():
    from django.utils import timezone

    return timezone.now()


def _model():
    from alliance_digest.db.models import Subscriber

    return Subscriber


def find(email: str):
    """The subscriber with this address (any case), or None; :class:`InvalidAddress` for a bad one.

    Looked up leniently: an address stored before today's rules (``ann@localhost``) can still be
    found, and so removed; only new addresses must pass :func:`normalise`.
    """
    if not isinstance(email, str) or not email.strip():
        raise InvalidAddress("no email address given")
    found = _model().objects.filter(email_normalized__in=address_forms(email)).first()
    return found if found is not None else _model().objects.filter(email_normalized=normalise(email)).first()


# ---- confirmation email -------------------------------------------------------------------------

def confirmation_message(profile, subscriber, connection=None):
    """The double opt-in email for ``subscriber``: plain text and HTML, with the signed link."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    from alliance_digest import tokens

    hours = profile.email.confirm_hours
    context = {
        "title": profile.title,
        "email": subscriber.email,
        # no name: it may have been typed by anyone on the public form, and this goes to an address
        # whose owner has not agreed to anything yet (a stranger's text must not reach them)
        "url": tokens.confirm_url(profile, subscriber),
        "hours": int(hours) if float(hours).is_integer() else hours,
        "site_url": profile.site_url,
    }
    text = render_to_string("digest_web/email/confirm.txt", context)
    html = render_to_string("digest_web/email/confirm.html", context)
    message = EmailMultiAlternatives(
        subject=f"Please confirm your subscription to {profile.title}",
        body=text,
        from_email=profile.email.from_address,
        to=[subscriber.email],
        reply_to=[profile.email.reply_to] if profile.email.reply_to else None,
        connection=connection,
        headers={"Auto-Submitted": "auto-generated",
                 "Message-ID": f"<confirm-{secrets.token_hex(10)}@{message_domain(profile)}>"},
    )
    message.attach_alternative(html, "text/html")
    return message


def message_domain(profile) -> str:
    """The domain for Message-IDs: the site's (``digest.site_url``), else the From address's."""
    from email.utils import parseaddr
    from urllib.parse import urlsplit

    host = ""
    if profile.site_url:
        try:
            host = urlsplit(profile.site_url).hostname or ""
        except ValueError:
            host = ""
    if not host:
        host = parseaddr(profile.email.from_address)[1].rpartition("@")[2]
    try:
        return ascii_domain(host) if host else "localhost"
    except UnicodeError:
        return "localhost"


def send_confirmation(profile, subscriber, connection=None) -> None:
    """Send the confirmation email now; :class:`MailError` (one line) when it cannot be handed over."""
    import smtplib

    connection = connection or email_connection(profile)
    try:
        sent = confirmation_message(profile, subscriber, connection).send()
    except MailError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send the confirmation email to {subscriber.email}: {exc}") from None
    except Exception as exc:  # e.g. anymail's errors; never leave a raw traceback for a mail problem
        raise MailError(f"could not send the confirmation email to {subscriber.email}: "
                        f"{type(exc).__name__}: {exc}") from None
    if not sent:
        raise MailError(f"the mail backend did not accept the confirmation email to {subscriber.email}")


# ---- state changes --------------------------------------------------------------------------------

def _make_pending(subscriber, source: str, ip) -> None:
    """Back to pending after an unsubscribe, bounce or complaint (a new sign-up, to be confirmed)."""
    S = _model().Status
    subscriber.status = S.PENDING
    subscriber.source = source or subscriber.source
    subscriber.confirmed_at = None
    subscriber.consent_at = None
    subscriber.consent_method = f"{source}: awaiting confirmation"
    subscriber.consent_ip = ip
    subscriber.soft_bounces = 0


def _activate(subscriber, method: str, ip=None) -> None:
    now = _now()
    subscriber.status = _model().Status.ACTIVE
    subscriber.confirmed_at = now
    subscriber.consent_at = now
    subscriber.consent_method = method[:100]
    if ip is not None:
        subscriber.consent_ip = ip
    subscriber.unsubscribed_at = None
    subscriber.soft_bounces = 0


def add(profile, email: str, name: str = "", confirmed: bool = False, source: str = "cli", ip=None,
        send: bool = True):
    """Put ``email`` on the list; return ``(subscriber, created)``.

    ``confirmed``: the person has already consented (recorded as such): the
    subscriber is active at once. Otherwise the subscriber is pending and,
    with ``send``, gets the confirmation email (a pending one gets it again;
    an unsubscribed, bounced or complained one is pending again: re-subscribing
    needs the same confirmation). An active subscriber stays active (a
    ``name`` given replaces its name).
    Raises :class:`InvalidAddress`, and :class:`MailError` when the email
    cannot be sent (the subscriber is stored all the same).
    """
    from django.db import transaction

    Subscriber = _model()
    S = Subscriber.Status
    normalized = normalise(email)
    name = _clean_name(name)
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(
            email_normalized=normalized,
            defaults={"email": email.strip(), "name": name, "source": source, "status": S.PENDING,
                      "consent_method": f"{source}: awaiting confirmation", "consent_ip": ip},
        )
        if name:
            subscriber.name = name
        if confirmed:
            if subscriber.status != S.ACTIVE:
                _activate(subscriber, f"{source}: consent confirmed by the operator (--confirmed)", ip)
        elif subscriber.status in (S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED):
            _make_pending(subscriber, source, ip)
        elif subscriber.status == S.PENDING and ip is not None:
            subscriber.consent_ip = ip  # the latest sign-up
        subscriber.save()
    if send and subscriber.status == S.PENDING:
        send_confirmation(profile, subscriber)
    return subscriber, created


def sign_up(profile, email: str, name: str = "", ip=None):
    """A web sign-up: pending (new, or again after an unsubscribe or bounce) plus the confirmation email.

    An active subscriber is left alone (no second entry, no email), and so is
    one who complained (marked our mail as spam); a pending one gets the
    email again, at most once per :data:`RESEND_SECONDS`. The name typed is
    kept only for a new address; for one already on the list a visitor can
    only ask again (an unsubscribed or bounced address becomes pending,
    awaiting its owner's confirmation), never change what is stored about it. The
    caller must answer the same whatever happened (no address enumeration).
    Returns the subscriber; raises :class:`InvalidAddress` or :class:`MailError`.
    """
    from django.core.cache import cache

    Subscriber = _model()
    S = Subscriber.Status
    normalized = normalise(email)
    before = Subscriber.objects.filter(email_normalized=normalized).values_list("status", flat=True).first()
    if before in (S.ACTIVE, S.COMPLAINED):
        # active: nothing to do; complained: they reported our mail as spam, and a form anyone can fill
        # in must not mail them again (the operator can, with `digest subscribers add`)
        return Subscriber.objects.get(email_normalized=normalized)
    if before is not None:
        name = ""  # a visitor may not change what is stored about someone already on the list
    subscriber, _ = add(profile, email, name, confirmed=False, source="web", ip=ip, send=False)
    key = "digest:confirmation-sent:" + hashlib.sha256(normalized.encode()).hexdigest()
    if before == S.PENDING and cache.get(key):
        return subscriber
    send_confirmation(profile, subscriber)
    cache.set(key, True, RESEND_SECONDS)
    return subscriber


class NotPending(Exception):
    """A confirmation for a subscriber who has since unsubscribed, bounced or complained."""


def confirm(subscriber):
    """Confirm a pending subscriber (double opt-in done): active, consent recorded; returns it.

    Confirming an active subscriber again changes nothing; one who has
    since unsubscribed (or bounced, or complained) raises :class:`NotPending`:
    an old confirmation link must not re-subscribe anyone.
    """
    Subscriber = _model()
    S = Subscriber.Status
    subscriber.refresh_from_db()
    if subscriber.status == S.ACTIVE:
        return subscriber
    if subscriber.status != S.PENDING:
        raise NotPending(f"{subscriber.email} is {subscriber.status}; sign up again to re-subscribe")
    _activate(subscriber, f"{subscriber.source or 'sign-up'}: confirmed by email link")
    subscriber.save()
    log.info("subscriber %s confirmed", subscriber.pk)
    return subscriber


def unsubscribe(subscriber, how: str = "link"):
    """Unsubscribe at once (idempotent); ``how`` (one-click, web page, cli...) goes to the log. Returns it."""
    S = _model().Status
    subscriber.refresh_from_db()
    if subscriber.status in (S.UNSUBSCRIBED, S.COMPLAINED):
        return subscriber
    subscriber.status = S.UNSUBSCRIBED
    subscriber.unsubscribed_at = _now()
    subscriber.save(update_fields=["status", "unsubscribed_at", "updated_at"])
    log.info("subscriber %s unsubscribed (%s)", subscriber.pk, how)
    return subscriber


def remove(email: str) -> bool:
    """Delete the subscriber (and its delivery records); False when there is none."""
    subscriber = find(email)
    if subscriber is None:
        return False
    subscriber.delete()
    return True


def counts() -> dict[str, int]:
    from django.db.models import Count

    return {row["status"]: row["n"] for row in _model().objects.values("status").annotate(n=Count("id"))}


# ---- CSV import -----------------------------------------------------------------------------------

@dataclass
class RowProblem:
    row: int
    message: str


@dataclass
class ImportReport:
    path: str
    confirmed: bool = False
    rows: int = 0
    imported: list[str] = field(default_factory=list)  # new addresses
    updated: list[str] = field(default_factory=list)  # pending -> active (--confirmed), or a name filled in
    unchanged: list[str] = field(default_factory=list)  # already on the list as they are
    duplicates: list[RowProblem] = field(default_factory=list)
    invalid: list[RowProblem] = field(default_factory=list)
    skipped: list[RowProblem] = field(default_factory=list)  # unsubscribed, bounced, complained: left so
    emails_sent: int = 0
    mail_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[RowProblem]:
        """Every rejected row, in file order."""
        return sorted(self.invalid + self.duplicates + self.skipped, key=lambda p: p.row)

    @property
    def done(self) -> bool:
        """Whether any row was usable (imported, updated or already on the list)."""
        return bool(self.imported or self.updated or self.unchanged)

    def summary(self) -> str:
        state = "active" if self.confirmed else "pending confirmation"
        parts = [f"imported {len(self.imported)} new subscriber(s) ({state})"]
        parts.append(f"{len(self.updated)} updated")
        parts.append(f"{len(self.unchanged)} already on the list")
        if self.skipped:
            parts.append(f"{len(self.skipped)} not re-subscribed")
        parts.append(f"{len(self.duplicates)} duplicate(s)")
        parts.append(f"{len(self.invalid)} invalid")
        text = f"{self.path}: {self.rows} row(s): " + ", ".join(parts)
        if not self.confirmed and (self.imported or self.emails_sent):
            text += f"; {self.emails_sent} confirmation email(s) sent"
        return text


def _header_key(cell: str) -> str:
    return re.sub(r"[^a-z]", "", cell.strip().lower())


def _read_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{path}: not UTF-8 text (byte {exc.start}); save it as \"CSV UTF-8\"") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ImportFailed(f"{path}: the file is empty: no subscribers to import")
    delimiter = _delimiter(first)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _delimiter(first_line: str) -> str:
    """`;`, `,` or tab: the one that splits the first line into a recognisable header, else the commonest."""
    for delimiter in (",", ";", "\t"):
        cells = next(csv.reader([first_line], delimiter=delimiter), [])
        if any(_header_key(c) in EMAIL_HEADERS for c in cells):
            return delimiter
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _columns(header: list[str]) -> tuple[int | None, int | None, int | None, int | None]:
    keys = [_header_key(c) for c in header]

    def index(names):
        return next((i for i, k in enumerate(keys) if k in names), None)

    return index(EMAIL_HEADERS), index(NAME_HEADERS), index(FIRST_NAME_HEADERS), index(LAST_NAME_HEADERS)


def import_csv(profile, path, confirmed: bool = False, send: bool = True) -> ImportReport:
    """Import subscribers from a CSV file; return what happened, each rejected row by its number.

    The file: UTF-8 (a BOM is fine), `,` `;` or tab separated, quoted fields
    allowed, a header naming the email column (``email``, ``E-mail``, ``Email
    Address``...) and optionally ``name`` (or first and last name); without a
    recognisable header, a first row holding an address means there is no
    header. Rows are numbered as in a spreadsheet: the header is row 1.
    Invalid addresses and duplicates within the file are reported and
    skipped, the rest imported. ``confirmed``: the rows have consented
    already; they are active at once. Otherwise new rows are pending and,
    with ``send``, get the confirmation email. Unsubscribed, bounced and
    complained addresses are never re-subscribed by an import.
    Raises :class:`ImportFailed` when nothing in the file can be used.
    """
    from django.db import transaction

    Subscriber = _model()
    S = Subscriber.Status
    path = Path(path)
    rows = _read_rows(path)
    report = ImportReport(path=str(path), confirmed=confirmed)
    email_col, name_col, first_col, last_col = _columns(rows[0])
    start = 1
    if email_col is None:
        at = [i for i, cell in enumerate(rows[0]) if "@" in cell]
        if not at:
            raise ImportFailed(f"{path}: no email column: the first row should be a header naming it "
                               f"(email, E-mail or Email Address); found {', '.join(map(repr, rows[0][:6]))}")
        email_col, start = at[0], 0  # no header: the first row is data

    entries: list[tuple[int, str, str, str]] = []  # row number, address as given, normalised, name
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        swallowed = next((cell for cell in row if "\n" in cell or "\r" in cell), None)
        if swallowed is not None:  # a quote left open runs on, taking the next lines' rows into one cell
            after = swallowed.splitlines()[1:2]
            report.invalid.append(RowProblem(number, "a quote is not closed, so the row runs on into the next "
                                                     f"line ({after[0][:60]!r} is inside it); close the quote "
                                                     "and import the file again" if after else
                                                     "a quote is not closed; close it and import the file again"))
            continue
        value = row[email_col] if email_col < len(row) else ""
        try:
            normalized = normalise(value)
        except InvalidAddress as exc:
            report.invalid.append(RowProblem(number, str(exc)))
            continue
        if normalized in seen:
            report.duplicates.append(RowProblem(number, f"{value.strip()} is a duplicate of row {seen[normalized]}"))
            continue
        seen[normalized] = number
        if name_col is not None and name_col < len(row):
            name = row[name_col]
        else:
            name = " ".join(row[i].strip() for i in (first_col, last_col) if i is not None and i < len(row))
        entries.append((number, value.strip(), normalized, _clean_name(name)))
    if report.rows == 0:
        raise ImportFailed(f"{path}: no subscribers in the file (only a header)" if start else
                           f"{path}: no subscribers in the file")

    to_confirm = []
    method = f"import: {path.name} --confirmed (consent given before)"
    with transaction.atomic():
        existing = {s.email_normalized: s for s in
                    Subscriber.objects.filter(email_normalized__in=[e[2] for e in entries])}
        for number, given, normalized, name in entries:
            subscriber = existing.get(normalized)
            if subscriber is None:
                subscriber = Subscriber(email=given, email_normalized=normalized, name=name, source="import",
                                        status=S.PENDING, consent_method="import: awaiting confirmation")
                if confirmed:
                    _activate(subscriber, method)
                subscriber.save()
                report.imported.append(normalized)
                if not confirmed:
                    to_confirm.append(subscriber)
                continue
            if subscriber.status in (S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED):
                report.skipped.append(RowProblem(number, f"{given} is {subscriber.status}; an import does not "
                                                         "re-subscribe it (they can sign up again)"))
                continue
            changed = False
            if name and not subscriber.name:
                subscriber.name, changed = name, True
            if confirmed and subscriber.status == S.PENDING:
                _activate(subscriber, method)
                changed = True
            if changed:
                subscriber.save()
                report.updated.append(normalized)
            else:
                report.unchanged.append(normalized)
    if send and to_confirm:
        _send_confirmations(profile, to_confirm, report)
    return report


def _send_confirmations(profile, subscribers, report: ImportReport) -> None:
    try:
        connection = email_connection(profile)
        connection.open()
    except Exception as exc:  # noqa: BLE001 - one line, whatever the backend raised
        report.mail_errors.append(f"could not connect to send confirmation emails: {exc}")
        return
    try:
        for subscriber in subscribers:
            try:
                send_confirmation(profile, subscriber, connection)
                report.emails_sent += 1
            except MailError as exc:
                report.mail_errors.append(str(exc))
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


# ---- CSV export -----------------------------------------------------------------------------------

def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (names come from a public form)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(path_or_stream=None, status: str | None = None) -> int:
    """Write every subscriber (or those with ``status``) as CSV; return how many.

    ``path_or_stream``: a path, ``-`` or None (standard output), or an open
    text stream. Columns: :data:`EXPORT_FIELDS`; the file imports again.
    """
    rows = _model().objects.order_by("email_normalized")
    if status:
        rows = rows.filter(status=status)

    def write(stream) -> int:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(EXPORT_FIELDS)
        n = 0
        for s in rows.iterator():
            writer.writerow([s.email, _cell(s.name), s.status, s.source,
                             *(d.isoformat() if d else "" for d in (s.created_at, s.confirmed_at,
                                                                     s.unsubscribed_at, s.consent_at)),
                             _cell(s.consent_method), s.consent_ip or ""])
            n += 1
        return n

    if path_or_stream is None or path_or_stream == "-":
        return write(sys.stdout)
    if hasattr(path_or_stream, "write"):
        return write(path_or_stream)
    with open(path_or_stream, "w", encoding="utf-8", newline="") as stream:
        return write(stream)
