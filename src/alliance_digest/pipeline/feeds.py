"""Feeds (RSS 0.9x/1.0/2.0, Atom) into article records, via ``feedparser``."""

from __future__ import annotations

import warnings

import feedparser

from alliance_digest.pipeline.dates import DateError, from_struct_time, parse_date
from alliance_digest.pipeline.records import ArticleRecord, Problem, ReadResult
from alliance_digest.pipeline.text import description_text, html_to_text, image_in_html
from alliance_digest.pipeline.urls import BadURL, canonicalise, host_of



def looks_like_feed(content: bytes) -> bool:
    head = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf ")) or (
        head.startswith(b"<?xml") and b"<html" not in head
    )


def _image(entry) -> tuple[str | None, str | None]:
    for media in entry.get("media_content", []) or []:
        if media.get("url") and (media.get("medium") in (None, "image") or "image" in media.get("type", "")):
            return media["url"], None
    for thumb in entry.get("media_thumbnail", []) or []:
        if thumb.get("url"):
            return thumb["url"], None
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and link.get("type", "").startswith("image/") and link.get("href"):
            return link["href"], None
    return image_in_html(entry.get("summary", "") or "")



def parse_feed(content: bytes, origin: str, source_name: str | None = None) -> ReadResult:
    """Parse feed bytes; per-item problems are reported, the rest kept."""
    result = ReadResult()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = feedparser.parse(content)
        _read_entries(parsed, origin, source_name, result)
    if parsed.bozo and not result.articles:
        exc = parsed.bozo_exception
        reason = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
        result.problems = []
        result.fatal = Problem(origin, f"malformed feed: {reason}")
    elif not parsed.entries and not parsed.get("version"):
        result.fatal = Problem(origin, "not a feed (no RSS or Atom root element)")
    return result


def _read_entries(parsed, origin: str, source_name: str | None, result: ReadResult) -> None:
    feed_title = html_to_text(parsed.feed.get("title", "")) if parsed.get("feed") else ""
    outlet = source_name or feed_title or host_of(parsed.feed.get("link", "")) or origin
    for index, entry in enumerate(parsed.entries, start=1):
        where = f"{origin} item {index}"
        try:
            _read_entry(entry, where, outlet, result)
        except (BadURL, ValueError, TypeError, OverflowError) as exc:  # one odd item, not the whole feed
            result.problems.append(Problem(where, f"item could not be read ({exc}); skipped"))
    return result


def _read_entry(entry, where: str, outlet: str, result: ReadResult) -> None:
    link = (entry.get("link") or "").strip()
    if not link and str(entry.get("id", "")).startswith("http"):
        link = entry["id"]
    if link and not link.lower().startswith(("http://", "https://")):
        result.problems.append(Problem(where, f"item link {link[:80]!r} is not an http(s) URL; skipped"))
        return
    title = html_to_text(entry.get("title", ""))
    if not link:
        result.problems.append(Problem(where, f"item {title[:60]!r} has no link; skipped"))
        return
    if not title:
        result.problems.append(Problem(where, f"item {link} has no title; skipped"))
        return
    summary = description_text(entry.get("summary", "") or entry.get("description", ""))
    text = ""
    for content_item in entry.get("content", []) or []:
        candidate = description_text(content_item.get("value", ""))
        if len(candidate) > len(text):
            text = candidate
    if text and len(text) <= len(summary) + 20:
        text = ""  # content:encoded that only repeats the description
    published = from_struct_time(entry.get("published_parsed") or entry.get("updated_parsed"))
    raw_date = entry.get("published") or entry.get("updated")
    if published is None and raw_date:
        try:
            published = parse_date(raw_date)
        except DateError as exc:
            result.problems.append(Problem(where, f"{exc}; kept without a date"))
    image, alt = _image(entry)
    result.articles.append(ArticleRecord(
        url=link, canonical_url=canonicalise(link), guid=(entry.get("id") or None),
        title=title, summary=summary, text=text, author=entry.get("author") or None,
        source=outlet, published=published, image=image, image_alt=alt, origin=where,
    ))
