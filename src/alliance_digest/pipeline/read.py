"""Read any input (feed, page, JSONL; path, directory or URL) into records.

The kind is taken from the caller, else from the file name, else sniffed
from the bytes, so ``digest ingest`` accepts whatever it is given.
"""

from __future__ import annotations

from pathlib import Path

from alliance_digest.pipeline.extract import looks_like_html, parse_page
from alliance_digest.pipeline.feeds import looks_like_feed, parse_feed
from alliance_digest.pipeline.fetch import FetchError, fetch, local_path
from alliance_digest.pipeline.jsonl import parse_jsonl
from alliance_digest.pipeline.records import Problem, ReadResult

INPUT_SUFFIXES = {".xml": "feed", ".rss": "feed", ".atom": "feed", ".rdf": "feed",
                  ".html": "page", ".htm": "page", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def expand(location: str) -> list[str]:
    """A directory stands for the input files inside it (sorted, recursive)."""
    path = local_path(location)
    if path is not None and path.is_dir():
        return [str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES]
    return [location]


def detect_kind(location: str, content: bytes, content_type: str = "") -> str | None:
    suffix = Path(location.split("?", 1)[0]).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in ("application/rss+xml", "application/atom+xml", "application/rdf+xml"):
        return "feed"
    if looks_like_feed(content):
        return "feed"
    if ctype in ("text/html", "application/xhtml+xml") or looks_like_html(content):
        return "page"
    if content[:1] == b"{":
        return "jsonl"
    return None


def read_input(location: str, kind: str = "auto", source_name: str | None = None,
               user_agent: str = "AllianceDigest/0.1", policy=None) -> ReadResult:
    """Read one input; never raises for bad input, reports it instead.

    Readers report bad items themselves; anything they did not foresee is
    still this input's one-line problem, so the run goes on to the next.
    """
    try:
        return _read_input(location, kind, source_name, user_agent, policy)
    except Exception as exc:  # noqa: BLE001 - a reader's slip must not stop the other inputs
        return ReadResult(fatal=Problem(location, f"could not be read: {exc.__class__.__name__}: {exc}"))


def _read_input(location: str, kind: str, source_name: str | None, user_agent: str, policy) -> ReadResult:
    try:
        fetched = fetch(location, user_agent=user_agent, policy=policy, kind=kind)
    except FetchError as exc:
        return ReadResult(fatal=Problem(location, str(exc)))
    if not fetched.content.strip():
        return ReadResult(fatal=Problem(location, "empty input"))
    if kind == "auto":
        detected = detect_kind(location, fetched.content, fetched.content_type)
        if detected is None:
            ctype = fetched.content_type.split(";", 1)[0] or "unknown content"
            return ReadResult(fatal=Problem(location, f"not a feed, HTML page or JSONL file ({ctype})"))
        kind = detected
    if kind == "feed":
        return parse_feed(fetched.content, location, source_name)
    if kind == "jsonl":
        return parse_jsonl(fetched.content, location, source_name)
    if kind == "page":
        if not fetched.is_local and fetched.content_type and "html" not in fetched.content_type:
            return ReadResult(fatal=Problem(location, f"not an HTML page ({fetched.content_type.split(';')[0]})"))
        if not looks_like_html(fetched.content):
            return ReadResult(fatal=Problem(location, "not an HTML page"))
        url = None if fetched.is_local else fetched.location
        return parse_page(fetched.content, location, url=url, source_name=source_name)
    return ReadResult(fatal=Problem(location, f"unknown input kind {kind!r}"))
