"""Read one input's bytes from a local path, a ``file://`` URL or ``http(s)://``.

Local files and URLs behave the same to the rest of the pipeline: each gives
bytes, a content type when known, and the final location. With a
``FetchPolicy`` (what the application passes: the profile's ``[fetch]``
settings) an http(s) URL is read through the polite fetcher
(:mod:`alliance_digest.pipeline.fetcher`: URL safety, limits, robots.txt);
without one, through a plain bounded httpx request (library use, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

MAX_BYTES = 20 * 1024 * 1024
# A local JSONL file is a backfill (a year of articles is ~16 MB without pages): it may be larger.
MAX_JSONL_BYTES = 256 * 1024 * 1024
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class FetchError(Exception):
    """The input could not be read (missing file, HTTP error, too large...)."""


@dataclass
class Fetched:
    location: str  # final URL or path
    content: bytes
    content_type: str = ""
    is_local: bool = False


def is_url(value: str) -> bool:
    return value.split(":", 1)[0].lower() in ("http", "https", "file") and "://" in value


def local_path(value: str) -> Path | None:
    """The filesystem path for a local path or ``file://`` URL, else None."""
    if value.lower().startswith("file://"):
        return Path(unquote(urlsplit(value).path))
    if is_url(value):
        return None
    return Path(value).expanduser()


COMPRESSED = {b"\x1f\x8b": "gzip", b"PK": "zip", b"BZ": "bzip2", b"\xfd7": "xz"}


def fetch(location: str, user_agent: str = "AllianceDigest/0.1", policy=None, kind: str = "auto") -> Fetched:
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if scheme and scheme not in ("http", "https", "file"):
        raise FetchError(f"{scheme}:// addresses are not read (only http, https and file)")
    path = local_path(location)
    if path is not None:
        if not path.exists():
            raise FetchError("file not found")
        if path.is_dir():
            raise FetchError("is a directory")
        if not path.is_file():
            raise FetchError("not a regular file (a device or a pipe)")
        size = path.stat().st_size
        jsonl = kind == "jsonl" or path.suffix.lower() in (".jsonl", ".ndjson")
        limit = MAX_JSONL_BYTES if jsonl else MAX_BYTES
        advice = (f"; split it (e.g. `split -l 50000 {path.name} part-`) and ingest the folder of parts"
                  if jsonl else "")
        if size > limit:
            raise FetchError(f"file too large ({size} bytes, limit {limit}){advice}")
        try:
            with path.open("rb") as handle:
                content = handle.read(limit + 1)  # a file growing while read is still bounded
        except OSError as exc:
            raise FetchError(f"cannot read file: {exc.strerror or exc}") from None
        if len(content) > limit:
            raise FetchError(f"file too large (over {limit} bytes){advice}")
        packed = COMPRESSED.get(content[:2])
        if packed:
            raise FetchError(f"a {packed}-compressed file: decompress it first")
        return Fetched(str(path), content, is_local=True)
    if policy is not None:
        return _fetch_politely(location, policy, kind)
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=True, max_redirects=5,
                          headers={"User-Agent": user_agent}) as client:
            with client.stream("GET", location) as resp:
                if resp.status_code >= 400:
                    raise FetchError(f"HTTP {resp.status_code} {resp.reason_phrase}".strip())
                chunks, total = [], 0
                for chunk in resp.iter_bytes():
                    total += len(chunk)
                    if total > MAX_BYTES:
                        raise FetchError(f"response larger than {MAX_BYTES} bytes")
                    chunks.append(chunk)
                return Fetched(str(resp.url), b"".join(chunks), resp.headers.get("content-type", ""))
    except httpx.TimeoutException:
        raise FetchError("timed out") from None
    except httpx.TooManyRedirects:
        raise FetchError("too many redirects") from None
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"unreachable: {exc.__class__.__name__}: {exc}") from None


def _fetch_politely(location: str, policy, kind: str) -> Fetched:
    from alliance_digest.pipeline.fetcher import FetchRequest, fetch_all

    request = FetchRequest(location, kind="page" if kind == "page" else "feed")
    [result] = fetch_all([request], policy)
    if not result.ok or result.not_modified:
        raise FetchError(result.error or f"HTTP {result.status}")
    return Fetched(result.url, result.content, result.content_type)
