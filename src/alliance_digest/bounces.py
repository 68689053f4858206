"""Returned mail: delivery status notifications in a Maildir or mbox.

``flufl.bounce`` recognises the many formats of bounce messages and says
which addresses failed permanently and which only temporarily. Permanent
failures mark the subscriber bounced at once; temporary ones count towards
``email.soft_bounce_limit``.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from alliance_digest.db.models import Subscriber
from alliance_digest.profile import Profile


class BounceError(Exception):
    pass


@dataclass
class BounceReport:
    messages: int = 0
    recognised: int = 0
    hard: list[str] = field(default_factory=list)
    soft: list[str] = field(default_factory=list)
    now_bounced: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # addresses not on the list

    def summary(self) -> str:
        return (f"read {self.messages} message(s): {self.recognised} bounce(s); {len(self.hard)} hard, "
                f"{len(self.soft)} soft; {len(self.now_bounced)} subscriber(s) now bounced; "
                f"{len(self.unknown)} address(es) not on the list")


def _open(path: Path):
    if not path.exists():
        raise BounceError(f"{path}: not found")
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise BounceError(f"{path}: a directory but not a Maildir (no cur/ or new/)")
        return mailbox.Maildir(str(path), create=False)
    return mailbox.mbox(str(path), create=False)


def process(profile: Profile, path: Path) -> BounceReport:
    from flufl.bounce import all_failures

    report = BounceReport()
    box = _open(path)
    for message in box:
        report.messages += 1
        temporary, permanent = all_failures(message)
        if not temporary and not permanent:
            continue
        report.recognised += 1
        for raw, hard in [(a, True) for a in permanent] + [(a, False) for a in temporary]:
            address = (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).strip().lower()
            subscriber = Subscriber.objects.filter(email_normalized=address).first()
            (report.hard if hard else report.soft).append(address)
            if subscriber is None:
                report.unknown.append(address)
                continue
            subscriber.last_bounce_at = timezone.now()
            subscriber.last_bounce = f"{'hard' if hard else 'soft'} bounce"
            if not hard:
                subscriber.soft_bounces += 1
            if (hard or subscriber.soft_bounces >= profile.email.soft_bounce_limit) and \
                    subscriber.status == Subscriber.Status.ACTIVE:
                subscriber.status = Subscriber.Status.BOUNCED
                report.now_bounced.append(address)
            subscriber.save()
    return report
