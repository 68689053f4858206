"""Returned mail: delivery status notifications in a Maildir or mbox.

``flufl.bounce`` recognises the many formats of bounce messages and says
which addresses failed permanently and which only temporarily. Permanent
failures mark the subscriber bounced at once; temporary ones count towards
``email.soft_bounce_limit``.

A failure counts only when the bounce quotes the Message-ID of a message
sent to that subscriber from here (the ``Delivery`` ledger; mail servers
return the original headers with the report): returned mail arrives at
the public From address, so anyone could otherwise forge reports that
strip good subscribers from the list. ``unverified=True`` trusts every
report, for a mailbox only the mail server can write to.

Processing is idempotent: each failed address of a bounce message taken
into account is remembered (:class:`ProcessedBounce`: a hash of the
message's Message-ID, or of its bytes and its place among identical copies
when it has none, with the address) in the same transaction as what it
changed, and skipped when it is read again, so running the command twice on
the same mailbox counts nothing twice; an address ignored as unverified is
not remembered, so a later ``--unverified`` run can still count it. (Marks
of whole messages, from earlier versions, are still honoured.)
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from alliance_digest.db.models import Delivery, ProcessedBounce, Subscriber
from alliance_digest.profile import Profile

class BounceError(Exception):
    pass


@dataclass
class BounceReport:
    messages: int = 0
    recognised: int = 0
    already_processed: int = 0  # bounces counted by an earlier run (or earlier in this one): skipped
    hard: list[str] = field(default_factory=list)
    soft: list[str] = field(default_factory=list)
    now_bounced: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # addresses not on the list
    unverified: list[str] = field(default_factory=list)  # quoting no message sent to them: not counted
    errors: list[str] = field(default_factory=list)  # messages that could not be read (skipped)

    def summary(self) -> str:
        text = (f"read {self.messages} message(s): {self.recognised} bounce(s) "
                f"({self.already_processed} already processed before, skipped); {len(self.hard)} hard, "
                f"{len(self.soft)} soft; {len(self.now_bounced)} subscriber(s) now bounced; "
                f"{len(self.unknown)} address(es) not on the list")
        if self.unverified:
            text += (f"; {len(self.unverified)} report(s) ignored: they quote no message sent to that "
                     "subscriber from here (forged, or a server that returns no headers: --unverified counts them)")
        if self.errors:
            text += f"; {len(self.errors)} message(s) could not be read"
        return text


def _open(path: Path):
    if not path.exists():
        raise BounceError(f"{path}: not found")
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise BounceError(f"{path}: a directory but not a Maildir (no cur/ or new/)")
        return mailbox.Maildir(str(path), create=False)
    try:
        with open(path, "rb") as f:
            head = f.read(5)
    except OSError as exc:
        raise BounceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if head and head != b"From ":
        raise BounceError(f"{path}: not an mbox (it does not start with a \"From \" line) nor a Maildir")
    return mailbox.mbox(str(path), create=False)


def _mark(message, raw: bytes, copies: Counter) -> str:
    """What identifies a bounce message across runs: its Message-ID, else its bytes and which copy it is."""
    message_id = " ".join(str(message.get("Message-ID", "") or "").split())
    if message_id:
        basis = f"id:{message_id}"
    else:
        basis = "sha256:" + hashlib.sha256(raw).hexdigest()
        copies[basis] += 1
        basis += f"#{copies[basis]}"
    return hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def _subscriber(address: str):
    from alliance_digest.subscribers import address_forms

    return Subscriber.objects.filter(email_normalized__in=address_forms(address)).first()


_MESSAGE_ID = re.compile(rb"<[^<>\s@]{1,250}@[^<>\s@]{1,250}>")


def _quoted_ids(raw: bytes, message) -> set[str]:
    """The local parts of every Message-ID-shaped token in a bounce: in its bytes and each part decoded (base64 too)."""
    found = {_local_part(token.decode("ascii", "replace")) for token in _MESSAGE_ID.findall(raw)}
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001 - a broken part simply quotes nothing
            continue
        found |= {_local_part(token.decode("ascii", "replace")) for token in _MESSAGE_ID.findall(payload)}
    return found


def _sent_ids(profile: Profile, subscriber) -> set[str]:
    """The Message-IDs of the issues the ledger sent this subscriber, worked out afresh with today's key.

    Not read from the ledger: rows written before the ids were keyed hold
    ids anyone could compute, and a forged report could quote them.
    """
    from alliance_digest.delivery import message_id
    from alliance_digest.subscribers import wire_address

    deliveries = Delivery.objects.filter(subscriber=subscriber).exclude(status=Delivery.Status.QUEUED)
    return {_local_part(message_id(profile, d.issue, wire_address(subscriber.email)))
            for d in deliveries.select_related("issue")}


def _local_part(message_id: str) -> str:
    """``digest-1.1-<keyed hash>`` of ``<digest-1.1-<keyed hash>@domain>``: the domain may have changed since."""
    return message_id.strip().lstrip("<").rsplit("@", 1)[0]


def process(profile: Profile, path: Path, unverified: bool = False) -> BounceReport:
    from flufl.bounce import all_failures

    report = BounceReport()
    box = _open(path)
    copies: Counter = Counter()
    for key in box.iterkeys():
        report.messages += 1
        try:
            raw = box.get_bytes(key)
            message = message_from_bytes(raw)
            temporary, permanent = all_failures(message)
        except Exception as exc:  # noqa: BLE001 - one unreadable message must not stop the rest
            report.errors.append(f"message {report.messages}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        if not temporary and not permanent:
            continue
        report.recognised += 1
        mark = _mark(message, raw, copies)
        if ProcessedBounce.objects.filter(mark=mark).exists():  # counted whole by an earlier version
            report.already_processed += 1
            continue
        quoted = None if unverified else _quoted_ids(raw, message)
        fresh = False
        with transaction.atomic():  # each address's mark and what it counted are stored together, or neither
            for raw_address, hard in [(a, True) for a in permanent] + [(a, False) for a in temporary]:
                address = _plain_address(raw_address)
                marks = [hashlib.sha256(f"{mark}|{address}".encode()).hexdigest()]
                subscriber = _subscriber(address)
                matched = sorted(quoted & _sent_ids(profile, subscriber)) if subscriber and quoted else []
                if matched and not hard:  # repeated delay warnings about one message count once
                    marks.append(hashlib.sha256(f"delayed|{matched[0]}|{address}".encode()).hexdigest())
                if ProcessedBounce.objects.filter(mark__in=marks).exists():
                    continue
                fresh = True
                (report.hard if hard else report.soft).append(address)
                if subscriber is None:
                    report.unknown.append(address)
                elif quoted is not None and not matched:
                    report.unverified.append(address)
                    continue  # unmarked: a later --unverified run may count it
                else:
                    _count(profile, report, subscriber, address, hard)
                ProcessedBounce.objects.bulk_create([ProcessedBounce(mark=m) for m in marks])
        if not fresh:
            report.already_processed += 1
    return report


def _plain_address(raw) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).strip().lower()


def _count(profile: Profile, report: BounceReport, subscriber, address: str, hard: bool) -> None:
    """Take one verified failure into account: hard bounces at once, soft ones up to the limit."""
    subscriber.last_bounce_at = timezone.now()
    subscriber.last_bounce = f"{'hard' if hard else 'soft'} bounce"
    if not hard:
        subscriber.soft_bounces += 1
    if (hard or subscriber.soft_bounces >= profile.email.soft_bounce_limit) and \
            subscriber.status == Subscriber.Status.ACTIVE:
        subscriber.status = Subscriber.Status.BOUNCED
        report.now_bounced.append(address)
    subscriber.save()
