"""JSONL article files: one ``{"url", "title", ...}`` object per line."""

from __future__ import annotations

import json
import re

from alliance_digest.pipeline.dates import DateError, parse_date
from alliance_digest.pipeline.records import ArticleRecord, Problem, ReadResult
from alliance_digest.pipeline.text import description_text, html_to_text, image_in_html
from alliance_digest.pipeline.urls import BadURL, canonicalise, host_of


def parse_jsonl(content: bytes, origin: str, source_name: str | None = None) -> ReadResult:
    """Parse JSONL bytes; a bad line is reported with its number and skipped."""
    from alliance_digest.pipeline.extract import extract_text  # trafilatura is heavy: load on need

    result = ReadResult()
    try:
        lines = content.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        result.fatal = Problem(origin, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return result
    for number, line in enumerate(lines, start=1):
        where = f"{origin} line {number}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(where, f"invalid JSON ({exc.msg} at column {exc.colno}); skipped"))
            continue
        if not isinstance(obj, dict):
            result.problems.append(Problem(where, "expected a JSON object; skipped"))
            continue
        try:
            result.articles.append(_record(_clean_strings(obj), where, source_name, extract_text))
        except (_RowError, BadURL, DateError) as exc:
            result.problems.append(Problem(where, f"{exc}; skipped"))
    return result


class _RowError(ValueError):
    pass


# the date under the names other tools give it (RSS's pubDate, exports' published_at)
DATE_FIELDS = ("published", "pubDate", "published_at", "pub_date", "date", "updated")
TEXT_FIELDS = ("url", "title", "text", "summary", "source", "html", "image", "author", "guid",
               "feed", "image_alt") + DATE_FIELDS


def _clean_strings(obj: dict) -> dict:
    """Lone surrogates ("\\ud800", valid JSON, not valid text) become U+FFFD, so nothing later fails to encode."""
    return {key: _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value for key, value in obj.items()}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _record(obj: dict, where: str, source_name: str | None, extract_text) -> ArticleRecord:
    missing = [key for key in ("url", "title") if not isinstance(obj.get(key), str) or not obj[key].strip()]
    if missing:
        raise _RowError(f"missing required field {missing[0]!r}")
    if isinstance(obj.get("guid"), int) and not isinstance(obj["guid"], bool):
        obj["guid"] = str(obj["guid"])  # a numeric id is still an id
    for key in TEXT_FIELDS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise _RowError(f"field {key!r} must be text, not {type(obj[key]).__name__.replace('dict', 'object')}")
    url = obj["url"].strip()
    if not url.lower().startswith(("http://", "https://")):
        raise _RowError(f"url {url[:80]!r} is not an http(s) URL")
    canonical = canonicalise(url)
    stamp = next((obj[key] for key in DATE_FIELDS if obj.get(key)), None)
    published = parse_date(stamp) if stamp else None
    text = (obj.get("text") or "").strip()  # plain text; paragraph breaks kept
    if not text and obj.get("html"):
        text = extract_text(obj["html"], url)
    image, image_alt = obj.get("image") or None, obj.get("image_alt") or None
    if not image and obj.get("summary"):
        image, image_alt = image_in_html(obj["summary"])
    return ArticleRecord(
        url=url, canonical_url=canonical, guid=obj.get("guid") or None,
        title=html_to_text(obj["title"]), summary=description_text(obj.get("summary") or ""),
        text=text, author=obj.get("author") or None,
        source=obj.get("source") or source_name or host_of(url),
        published=published, image=image, image_alt=image_alt, origin=where,
    )
