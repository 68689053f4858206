"""Publishing an issue: its approved (frozen) content goes on the public archive and feed.

Only an approved issue can be published; what the public sees is exactly
``Issue.frozen``, the content as approved (and sent), never the live draft.
The public pages themselves are in :mod:`alliance_digest.web.public`.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

from django.db.models import QuerySet
from django.utils import timezone

from alliance_digest.db.models import Issue
from alliance_digest.profile import Profile


log = logging.getLogger(__name__)
_warming: list[threading.Thread] = []  # PDF editions being made in the background (tests wait for them)


class PublishError(Exception):
    """An issue that cannot be published (one clear line)."""


def publish(profile: Profile, issue: Issue, now: datetime | None = None) -> Issue:
    """Put an approved issue on the public archive: status ``published``, ``published_at`` set."""
    if issue.status == Issue.Status.PUBLISHED:
        when = f" on {timezone.localtime(issue.published_at):%Y-%m-%d %H:%M %Z}" if issue.published_at else ""
        raise PublishError(f"issue {issue.key} is already published{when}: nothing changed")
    if issue.status != Issue.Status.APPROVED:
        raise PublishError(f"issue {issue.key} is not approved: it is a {issue.status}; "
                           f"approve it first with `digest approve {issue.key}`")
    if not issue.frozen:
        raise PublishError(f"issue {issue.key} is not approved: it has no frozen content; "
                           f"approve it again before publishing")
    now = now or timezone.now()
    # A conditional update: of two concurrent publishers exactly one wins, the other gets the error.
    changed = Issue.objects.filter(pk=issue.pk, status=Issue.Status.APPROVED).update(
        status=Issue.Status.PUBLISHED, published_at=now, updated_at=now)
    if changed != 1:
        issue.refresh_from_db()
        raise PublishError(f"issue {issue.key} is already {issue.status}: nothing changed")
    issue.status, issue.published_at, issue.updated_at = Issue.Status.PUBLISHED, now, now
    return issue


def published_issues() -> QuerySet[Issue]:
    """Every issue on the public archive, newest issue first."""
    return (Issue.objects.filter(status=Issue.Status.PUBLISHED, frozen__isnull=False)
            .order_by("-volume", "-number"))


def public_content(issue: Issue) -> dict:
    """What the public pages show of ``issue``: its frozen content, marked published."""
    data = copy.deepcopy(issue.frozen)
    data["status"] = Issue.Status.PUBLISHED.value
    return data


def issue_path(volume: int, number: int) -> str:
    """The permalink's path, ``/issues/2-20/`` (the email's "view on the web" link has the same form)."""
    return f"/issues/{volume}-{number}/"


def site_root(profile: Profile) -> str:
    """``profile.site_url`` without a trailing slash ('' when unset)."""
    return (profile.site_url or "").strip().rstrip("/")


def permalink(profile: Profile, issue: Issue) -> str:
    """The issue's absolute public address, from ``profile.site_url``."""
    return site_root(profile) + issue_path(issue.volume, issue.number)


PDF_RETRY_IMAGE_AFTER = 3600  # seconds: a PDF made without its lead image is remade after this


def _pdf_files(profile: Profile, issue: Issue) -> tuple[Path, Path]:
    """The PDF with every part, and the one made while the lead image could not be read."""
    digest = hashlib.sha256(json.dumps(issue.frozen, sort_keys=True, default=str).encode()).hexdigest()[:16]
    whole = profile.base_dir / "cache" / "pdf" / f"issue-{issue.volume}-{issue.number}-{digest}.pdf"
    return whole, whole.with_suffix(".no-image.pdf")


def _kept_pdf(whole: Path, partial: Path) -> Path | None:
    if whole.exists():
        return whole
    if partial.exists() and time.time() - partial.stat().st_mtime < PDF_RETRY_IMAGE_AFTER:
        return partial
    return None


def pdf_version(profile: Profile, issue: Issue) -> tuple[str, datetime] | None:
    """Which PDF file a reader gets now (its name and time), for HTTP validators; None when none is made yet.

    The bytes of one issue's PDF change once: from the edition made without
    its lead image to the whole one. Validators must change with them, or a
    reader holding the first would be told it is current forever.
    """
    path = _kept_pdf(*_pdf_files(profile, issue))
    if path is None:
        return None
    try:
        return path.name, datetime.fromtimestamp(path.stat().st_mtime, tz=dt_timezone.utc)
    except OSError:
        return None


def pdf_edition(profile: Profile, issue: Issue) -> bytes:
    """The PDF edition of a published issue, made once and kept in the workspace (``cache/pdf/``).

    Published content is frozen, so one file per content serves every reader;
    readers who ask at the same moment (the email links it) wait for one
    rendering instead of each making their own. A PDF made while the lead
    image could not be read is remade an hour later.
    """
    from alliance_digest.render.pdf import lead_image_loader, render_pdf

    whole, partial = _pdf_files(profile, issue)
    folder = whole.parent

    def kept() -> bytes | None:
        path = _kept_pdf(whole, partial)
        return path.read_bytes() if path else None

    found = kept()
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with open(whole.with_suffix(".lock"), "a") as lock:  # readers who arrive together: one makes it
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = kept()  # made by another process while this one waited
        if found is not None:
            return found
        pdf, notes = render_pdf(public_content(issue), lead_image_loader(profile))
        target = partial if notes else whole
        scratch = target.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_bytes(pdf)
        os.replace(scratch, target)  # readers never see half a file
        if not notes:
            partial.unlink(missing_ok=True)
        return pdf


def warm_pdf_edition(profile: Profile, issue: Issue) -> threading.Thread:
    """Make the PDF edition of a just-published issue in a background thread.

    Publishing from the web app answers at once; without this the first
    reader of ``/issues/V-N.pdf`` would wait for the lead image (up to 15 s)
    and the rendering. The work needs only the frozen content and the
    profile, not the request; a failure is logged and the first reader
    makes the PDF instead, as before.
    """
    from django.db import connections

    def make() -> None:
        from alliance_digest.render.pdf import PdfUnavailable

        try:
            pdf_edition(profile, issue)
        except PdfUnavailable as exc:
            log.info("no PDF edition of issue %s: %s", issue.key, exc)
        except Exception:  # a background thread has no one to tell but the log
            log.exception("making the PDF edition of issue %s failed", issue.key)
        finally:
            connections.close_all()  # this thread's own connections, if it opened any

    _warming[:] = [t for t in _warming if t.is_alive()]
    thread = threading.Thread(target=make, name=f"pdf-{issue.key}", daemon=True)
    _warming.append(thread)
    thread.start()
    return thread


def wait_for_pdf_editions(timeout: float = 60.0) -> None:
    """Wait for the PDF editions being made in the background (tests and a clean shutdown)."""
    deadline = time.monotonic() + timeout
    for thread in list(_warming):
        thread.join(max(0.0, deadline - time.monotonic()))

