"""JSONL article files: one ``{"url", "title", ...}`` object per line."""

from __future__ import annotations

import json

from alliance_digest.pipeline.dates import DateError, parse_date
from alliance_digest.pipeline.records import ArticleRecord, Problem, ReadResult
from alliance_digest.pipeline.text import description_text, html_to_text, image_in_html
from alliance_digest.pipeline.urls import canonicalise, host_of

KNOWN_FIELDS = {"url", "title", "text", "summary", "published", "source", "html", "image",
                "author", "guid", "feed", "image_alt"}


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
        missing = [key for key in ("url", "title") if not isinstance(obj.get(key), str) or not obj[key].strip()]
        if missing:
            result.problems.append(Problem(where, f"missing required field {missing[0]!r}; skipped"))
            continue
        if not obj["url"].strip().lower().startswith(("http://", "https://")):
            result.problems.append(Problem(where, f"url {obj['url'][:80]!r} is not an http(s) URL; skipped"))
            continue
        published = None
        if obj.get("published"):
            try:
                published = parse_date(str(obj["published"]))
            except DateError as exc:
                result.problems.append(Problem(where, f"{exc}; skipped"))
                continue
        text = str(obj.get("text") or "").strip()  # plain text; paragraph breaks kept
        if not text and obj.get("html"):
            text = extract_text(str(obj["html"]), obj["url"])
        url = obj["url"].strip()
        image, image_alt = obj.get("image") or None, obj.get("image_alt") or None
        if not image and obj.get("summary"):
            image, image_alt = image_in_html(str(obj["summary"]))
        result.articles.append(ArticleRecord(
            url=url, canonical_url=canonicalise(url), guid=obj.get("guid") or None,
            title=html_to_text(obj["title"]), summary=description_text(str(obj.get("summary") or "")),
            text=text, author=obj.get("author") or None,
            source=str(obj.get("source") or source_name or host_of(url)),
            published=published, image=image, image_alt=image_alt,
            origin=where,
        ))
    return result
