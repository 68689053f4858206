"""Checking sources: fetch them politely, store what they hold, record health, schedule.

All the network sources of one check go through ONE run of the polite
fetcher (``fetch_all``), so per-host concurrency and delay hold across
sources; the pages of new feed items (full text) are a second pass of the
same fetcher. Local sources (paths, ``file://``: the demo) are read with
the pipeline's local reader and get health records too.

Health is written per source in plain words for editors: a source that
fails ``fetch.pause_after_failures`` times in a row is paused, and ``410
Gone`` pauses it at once. Validators (ETag, Last-Modified) are stored only
after a success, so a failed run never makes the next one skip content.
The schedule adapts: a source that brought new items is checked twice as
often (down to ``fetch.min_interval_minutes``), a quiet or failing one half
as often (up to ``fetch.max_interval_minutes``), and a server's long
``Retry-After`` is honoured.
"""

from __future__ import annotations

import codecs
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alliance_digest.db.models import Article, Source
from alliance_digest.pipeline.extract import looks_like_html, parse_page
from alliance_digest.pipeline.feeds import looks_like_feed, parse_feed
from alliance_digest.pipeline.jsonl import parse_jsonl
from alliance_digest.pipeline.read import detect_kind, expand, read_input
from alliance_digest.pipeline.records import ArticleRecord, ReadResult
from alliance_digest.profile import Profile
from alliance_digest.services import IngestReport, make_scorer, store_articles

# Plain words for the fetcher's error codes, used when a result carries no message of its own.
ERROR_WORDS = {
    "timeout": "the server took too long to answer",
    "too_large": "the response is larger than the size limit",
    "bomb": "the response expands to more than the decompressed size limit (compression bomb)",
    "redirect_loop": "the address redirects in a loop",
    "too_many_redirects": "too many redirects",
    "not_found": "the address was not found (HTTP 404)",
    "gone": "the feed is gone (HTTP 410)",
    "rate_limited": "the server asks us to slow down (HTTP 429)",
    "unavailable": "the server is unavailable (HTTP 503)",
    "server_error": "the server failed (HTTP 5xx)",
    "http_error": "the server refused the request",
    "connection": "the connection failed",
    "robots": "robots.txt does not allow reading this page",
    "invalid_url": "the URL is not valid",
    "unsafe_address": "the address is on a private, loopback or link-local network",
    "empty": "the server sent an empty response",
    "bad_response": "the response is corrupt (its compression cannot be decoded)",
}


@dataclass
class SourceOutcome:
    """What one check did to one source (a line of `digest sources check`)."""

    source_id: int
    name: str
    url: str
    result: str = ""  # "new", "duplicate", "not modified", "error"
    new: int = 0
    duplicate: int = 0
    enriched: int = 0
    error: str = ""
    error_code: str = ""
    paused: bool = False  # paused by this check
    full_text: int = 0  # new items whose page filled in the full text
    full_text_failed: int = 0  # pages that could not be read (the feed's text is kept)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.result == "error"

    def line(self) -> str:
        if self.failed:
            text = f"{self.name}: error: {self.error}"
        elif self.result == "not modified":
            text = f"{self.name}: not modified"
        else:
            text = f"{self.name}: {self.new} new, {self.duplicate} duplicate"
            if self.enriched:
                text += f" ({self.enriched} with new details)"
        if self.full_text or self.full_text_failed:
            text += f"; full text {self.full_text} page(s)" + (
                f", {self.full_text_failed} page(s) unreadable (feed text kept)" if self.full_text_failed else "")
        for note in self.notes:
            text += f"; {note}"
        return text


@dataclass
class CheckReport:
    outcomes: list[SourceOutcome] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False  # a stop request ended the check early (full text skipped)

    @property
    def failed(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if o.failed]

    @property
    def all_failed(self) -> bool:
        return bool(self.outcomes) and len(self.failed) == len(self.outcomes)

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def paused(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if o.paused]

    def by_url(self, url: str) -> SourceOutcome | None:
        return next((o for o in self.outcomes if o.url == url), None)

    def summary(self) -> str:
        modified = sum(1 for o in self.outcomes if o.result == "not modified")
        return (f"checked {len(self.outcomes)} source(s) in {self.seconds:.1f} s: {self.new} new article(s), "
                f"{modified} not modified, {len(self.failed)} failed, {len(self.paused)} paused")


def is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def due_sources(now: datetime | None = None, due_only: bool = False) -> list[Source]:
    """Enabled, unpaused sources (only those whose next check has come, with ``due_only``)."""
    rows = Source.objects.filter(enabled=True, paused_at__isnull=True)
    if due_only:
        rows = rows.filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now or timezone.now()))
    return list(rows.order_by("id"))


def check_sources(profile: Profile, sources: Iterable[Source] | None = None, due_only: bool = False,
                  now: datetime | None = None, stop: threading.Event | None = None) -> CheckReport:
    """Read ``sources`` (default: every enabled, unpaused one; only due ones with ``due_only``).

    Never raises for a bad source: every problem becomes that source's
    outcome and health record. ``stop`` (set by a signal handler) skips the
    steps not yet begun; what was fetched is still stored.
    """
    begin = time.monotonic()
    now = now or timezone.now()
    chosen = list(sources) if sources is not None else due_sources(now, due_only)
    report = CheckReport()
    scorer = make_scorer(profile)
    remote = [s for s in chosen if is_remote(s.url)]
    local = [s for s in chosen if not is_remote(s.url)]

    for source in local:
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        outcome = _outcome(source)
        parsed, error, code = _guarded(_read_local, profile, source)
        _finish_guarded(profile, source, outcome, parsed, error, code, None, now, scorer)
        report.outcomes.append(outcome)

    full_text_jobs: list[tuple[Source, SourceOutcome, list[str]]] = []
    if remote and not (stop is not None and stop.is_set()):
        results = _fetch([_request(s) for s in remote], profile)
        for source, result in zip(remote, results):
            outcome = _outcome(source)
            if isinstance(result, str):  # the fetcher itself failed
                parsed, error, code = None, result, "connection"
                retry_after = None
            else:
                parsed, error, code = _guarded(_parse_result, source, result)
                retry_after = result.retry_after
                _apply_redirect(source, result, outcome)
            new_urls = _finish_guarded(profile, source, outcome, parsed, error, code, result, now, scorer,
                                       retry_after=retry_after)
            report.outcomes.append(outcome)
            if new_urls and (source.full_text or profile.fetch.full_text) and source.kind in ("feed", "auto"):
                full_text_jobs.append((source, outcome, new_urls))
    elif remote:
        report.stopped = True

    if full_text_jobs:
        if stop is not None and stop.is_set():
            report.stopped = True
        else:
            _full_text(profile, full_text_jobs, scorer)
    report.seconds = time.monotonic() - begin
    return report


# ------------------------------------------------------------- reading ---

def _outcome(source: Source) -> SourceOutcome:
    return SourceOutcome(source_id=source.id, name=source.name, url=source.url)


def _request(source: Source):
    from alliance_digest.pipeline.fetcher import FetchRequest

    return FetchRequest(url=source.url, kind="page" if source.kind == "page" else "feed",
                        etag=source.etag, last_modified=source.last_modified, key=source.id)


def _fetch(requests: list, profile: Profile) -> list:
    """One polite fetcher run; on an unexpected fetcher failure every request gets its message."""
    from alliance_digest.pipeline.fetcher import fetch_all

    try:
        return fetch_all(requests, profile.fetch.policy(profile.user_agent))
    except Exception as exc:  # a fetcher bug must not abort the run or lose the other sources' health
        message = f"the fetcher failed: {exc.__class__.__name__}: {exc}"
        return [message] * len(requests)


def _guarded(read, *args) -> tuple[ReadResult | None, str, str]:
    """``read(*args)``; a reader's unforeseen failure is this source's error, not the run's end."""
    try:
        return read(*args)
    except Exception as exc:  # noqa: BLE001 - one bad source must not stop the others
        return None, f"could not be read: {exc.__class__.__name__}: {exc}", "reader_error"


def _finish_guarded(profile, source, outcome, parsed, error, code, result, now, scorer, **kwargs):
    """:func:`_finish`; if storing the records fails, the source's health still records why."""
    try:
        return _finish(profile, source, outcome, parsed, error, code, result, now, scorer, **kwargs)
    except Exception as exc:  # noqa: BLE001
        message = f"could not store what it holds: {exc.__class__.__name__}: {exc}"
        return _finish(profile, source, outcome, None, message, "store_error", result, now, scorer, **kwargs)


def _read_local(profile: Profile, source: Source) -> tuple[ReadResult | None, str, str]:
    """Read a local path (file, directory, ``file://``) with the pipeline's reader."""
    location = profile.resolve(source.url)
    items = expand(location)
    if not items:
        return None, "the directory holds no feed, page or JSONL files", "empty"
    merged = ReadResult()
    failures = []
    for item in items:
        result = read_input(item, kind=source.kind, source_name=source.name, user_agent=profile.user_agent)
        merged.articles += result.articles
        merged.problems += result.problems
        if result.fatal:
            failures.append(result.fatal)
    if failures and len(failures) == len(items):
        first = failures[0]
        more = f" (and {len(failures) - 1} more file(s))" if len(failures) > 1 else ""
        return None, f"{first.message}{more}" if len(items) == 1 else f"{first}{more}", "local"
    merged.problems += failures
    return merged, "", ""


def _parse_result(source: Source, result) -> tuple[ReadResult | None, str, str]:
    """Turn a fetcher result into records, or plain words saying why not."""
    if not result.ok:
        code = result.error_code or "http_error"
        return None, result.error or ERROR_WORDS.get(code, f"the request failed (HTTP {result.status})"), code
    if result.not_modified:
        return ReadResult(), "", ""
    content = result.content or b""
    if not content.strip():
        return None, f"the server sent an empty response (HTTP {result.status or 200})", "empty"
    ctype = result.content_type or ""
    kind = source.kind
    if kind == "auto":
        kind = detect_kind(result.url, content, ctype) or ""
        if not kind:
            return None, f"not a feed, HTML page or JSONL file ({ctype or 'unknown content'})", "unknown_content"
    if kind == "feed":
        if not looks_like_feed(content) and (looks_like_html(content) or "html" in ctype):
            return None, "an HTML page where a feed was expected", "not_a_feed"
        parsed = parse_feed(_feed_bytes(result), source.url, source.name)
        if parsed.fatal:
            message = parsed.fatal.message
            if message.startswith("malformed feed: "):
                return None, "invalid XML: " + message[len("malformed feed: "):], "invalid_xml"
            return None, message, "not_a_feed"
        return parsed, "", ""
    if kind == "jsonl":
        parsed = parse_jsonl(content, source.url, source.name)
        if parsed.fatal:
            return None, parsed.fatal.message, "invalid_jsonl"
        if not parsed.articles and parsed.problems:
            return None, f"no valid JSONL line ({parsed.problems[0].message})", "invalid_jsonl"
        return parsed, "", ""
    if ctype and "html" not in ctype:
        return None, f"not an HTML page ({ctype})", "not_html"
    if not looks_like_html(content):
        return None, "not an HTML page", "not_html"
    parsed = parse_page(result.text if result.text is not None else content, source.url, url=result.url,
                        source_name=source.name)
    if parsed.fatal:
        return None, parsed.fatal.message, "no_article"
    return parsed, "", ""


_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=""", re.I)


def _feed_bytes(result) -> bytes:
    """The feed's bytes for feedparser, which honours a BOM and the XML declaration itself.

    Only when the bytes name no encoding of their own and the fetcher decoded
    them with the charset the server declared (and the bytes agreed) is that
    text given instead, re-encoded as UTF-8 (feedparser's default), so a
    Shift_JIS feed labelled only in its HTTP header still reads right.
    """
    content = result.content
    if content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _XML_ENCODING.match(content[:512]):
        return content
    if result.text is not None and result.encoding_source == "declared":
        return result.text.encode("utf-8")
    return content


def _apply_redirect(source: Source, result, outcome: SourceOutcome) -> None:
    new = (getattr(result, "permanent_redirect", "") or "").strip()
    if not (result.ok and new and new != source.url):
        return
    other = Source.objects.filter(url=new).exclude(pk=source.pk).first()
    if other is not None:
        outcome.notes.append(f"moved permanently to {new}, which source #{other.id} ({other.name}) already reads; "
                             f"URL not changed")
        return
    outcome.notes.append(f"moved permanently: URL updated to {new}")
    source.url = new
    outcome.url = new


# ------------------------------------------------------ health, schedule ---

def _finish(profile: Profile, source: Source, outcome: SourceOutcome, parsed: ReadResult | None,
            error: str, code: str, result, now: datetime, scorer, retry_after: float | None = None) -> list[str]:
    """Store the articles and the source's health and schedule; return new article URLs lacking text."""
    fields = {"last_attempt_at", "consecutive_failures", "last_error", "last_error_code", "last_status",
              "interval_minutes", "next_check_at", "last_new_items", "url", "updated_at"}
    source.last_attempt_at = now
    source.last_status = getattr(result, "status", None) if result is not None and not isinstance(result, str) else None
    needs_text: list[str] = []
    if parsed is None:
        outcome.result, outcome.error, outcome.error_code = "error", error, code
        source.consecutive_failures += 1
        source.last_error, source.last_error_code = error[:2000], code[:40]
        source.last_new_items = 0
        limit = profile.fetch.pause_after_failures
        if source.paused_at is None and (code == "gone" or source.consecutive_failures >= limit):
            source.paused_at = now
            source.paused_reason = (f"{error}; paused at once" if code == "gone"
                                    else f"paused after {source.consecutive_failures} failures in a row; last: {error}")
            fields |= {"paused_at", "paused_reason"}
            outcome.paused = True
            outcome.notes.append("paused")
    else:
        records = parsed.articles
        if records:
            known = set(Article.objects.filter(canonical_url__in=[r.canonical_url for r in records])
                        .values_list("canonical_url", flat=True))
            stored = IngestReport()
            store_articles(records, profile, stored, scorer, outlet=source.name)
            outcome.new, outcome.duplicate, outcome.enriched = stored.new, stored.duplicate, stored.enriched
            fresh = [r.canonical_url for r in records if r.canonical_url not in known and not r.text
                     and is_remote(r.url)]
            if fresh:  # only what was stored under that URL just now, and still lacks its text
                needs_text = list(Article.objects.filter(canonical_url__in=fresh, text="")
                                  .values_list("canonical_url", flat=True))
        if parsed.problems:
            outcome.notes.append(f"{len(parsed.problems)} item(s) skipped or kept without a date "
                                 f"(first: {parsed.problems[0].message})")
        outcome.result = ("not modified" if result is not None and getattr(result, "not_modified", False)
                          else "new" if outcome.new else "duplicate")
        source.consecutive_failures = 0
        source.last_error, source.last_error_code = "", ""
        source.last_success_at = now
        source.last_new_items = outcome.new
        source.total_items += outcome.new
        fields |= {"last_success_at", "total_items"}
        if result is not None and not getattr(result, "not_modified", False):
            source.etag, source.last_modified = (result.etag or "")[:500], (result.last_modified or "")[:100]
            fields |= {"etag", "last_modified"}
        elif result is not None:  # 304: keep ours unless the server sent fresh ones
            if result.etag:
                source.etag = result.etag[:500]
            if result.last_modified:
                source.last_modified = result.last_modified[:100]
            fields |= {"etag", "last_modified"}
        if source.paused_at is not None:
            outcome.notes.append("still paused: `digest sources resume` to read it on schedule again")
    _schedule(profile, source, outcome.new, parsed is None, retry_after, now)
    with transaction.atomic():
        source.save(update_fields=sorted(fields))
    return needs_text


def _schedule(profile: Profile, source: Source, new_items: int, failed: bool, retry_after: float | None,
              now: datetime) -> None:
    """Halve the interval after new items, double it after a quiet or failed check, within bounds."""
    low, high = profile.fetch.min_interval_minutes, profile.fetch.max_interval_minutes
    current = min(max(source.interval_minutes or low, low), high)
    interval = max(low, current // 2) if (new_items and not failed) else min(high, current * 2)
    source.interval_minutes = interval
    due = now + timedelta(minutes=interval)
    if retry_after:
        due = max(due, now + timedelta(seconds=retry_after))
    source.next_check_at = due


# -------------------------------------------------------------- full text ---

def _full_text(profile: Profile, jobs: list[tuple[Source, SourceOutcome, list[str]]], scorer) -> None:
    """Fetch the pages of new feed items (robots respected) and fill in their text.

    A page that cannot be fetched or holds no article changes nothing: the
    feed's text stays, and the failure is only counted.
    """
    from alliance_digest.pipeline.fetcher import FetchRequest

    urls = {canonical: url for canonical, url in Article.objects.filter(
        canonical_url__in=[u for _, _, us in jobs for u in us]).values_list("canonical_url", "url")}
    requests = []
    for index, (source, outcome, canonicals) in enumerate(jobs):
        for canonical in canonicals:
            if canonical in urls:
                requests.append(FetchRequest(url=urls[canonical], kind="page", key=(index, canonical)))
    if not requests:
        return
    results = _fetch(requests, profile)
    for request, result in zip(requests, results):
        index, canonical = request.key
        source, outcome, _ = jobs[index]
        record = None
        if not isinstance(result, str) and result.ok and not result.not_modified and looks_like_html(result.content or b""):
            parsed = parse_page(result.text if result.text is not None else result.content, request.url,
                                url=result.url, source_name=source.name)
            if parsed.articles and parsed.articles[0].text:
                record = parsed.articles[0]
        if record is None:
            outcome.full_text_failed += 1
            continue
        # the page enriches the feed's article (same URL), never makes a second one
        page = ArticleRecord(url=request.url, canonical_url=canonical, title=record.title, text=record.text,
                             author=record.author, source=source.name, published=record.published,
                             image=record.image, image_alt=record.image_alt, origin=request.url)
        stored = IngestReport()
        store_articles([page], profile, stored, scorer, outlet=source.name)
        if stored.enriched:
            outcome.full_text += 1
        else:
            outcome.full_text_failed += 1


def run_check(profile: Profile, refs: list[Source] | None = None,
              echo: Callable[[str], None] | None = None, **kwargs) -> CheckReport:
    """check_sources and print one line per source (CLI and `digest run`)."""
    report = check_sources(profile, sources=refs, **kwargs)
    if echo:
        for outcome in report.outcomes:
            echo(outcome.line())
    return report
