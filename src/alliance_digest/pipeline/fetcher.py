"""The polite, concurrent HTTP fetcher (asynchronous httpx).

INTERFACE STUB — the implementation is being written; the names and fields
below are the contract other modules code against.

Why one module: every network read of the digest (feeds, article pages,
robots.txt, URLs editors paste) goes through here, so politeness (per-host
concurrency and delay, conditional requests, Retry-After, back-off) and
safety limits (timeouts, body size, decompressed size, redirects) hold
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and manners for one run of the fetcher."""

    user_agent: str = "AllianceDigest/0.1"
    per_host_concurrency: int = 2  # requests in flight to one host at most
    per_host_delay: float = 1.0  # seconds between the starts of two requests to one host
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # between two bytes (a slow drip beyond this fails)
    total_timeout: float = 60.0  # a whole response, however it trickles
    max_bytes: int = 10 * 1024 * 1024  # body as sent (compressed), enforced while streaming
    max_decompressed_bytes: int = 30 * 1024 * 1024  # body after decoding gzip/deflate/br
    max_redirects: int = 5
    respect_robots: bool = True  # applies to kind="page" requests
    retries: int = 2  # extra attempts on 429/503/5xx/connection errors within one run
    backoff: float = 1.0  # first back-off in seconds, doubled each retry
    max_retry_after: float = 60.0  # longer Retry-After: give up this run and report it
    allow_private: bool = False  # fetch from private/loopback/link-local addresses


@dataclass
class FetchRequest:
    url: str
    kind: str = "feed"  # "feed" or "page" (robots.txt applies to pages)
    etag: str = ""  # validators from the previous success: sent as If-None-Match
    last_modified: str = ""  # ... and If-Modified-Since
    key: object = None  # the caller's handle (e.g. a Source id), returned untouched


@dataclass
class FetchResult:
    request: FetchRequest
    url: str  # final URL after redirects
    ok: bool = False  # a usable body (2xx) or not_modified
    status: int | None = None  # last HTTP status, None when no response
    not_modified: bool = False  # 304: nothing new, validators still valid
    content: bytes = b""  # decompressed body
    text: str | None = None  # body decoded to text (see ``encoding``); None for binary
    content_type: str = ""  # media type without parameters, lower-case
    encoding: str = ""  # the charset used to decode ``text``
    encoding_source: str = ""  # "declared", "bom", "meta", "detected" or "default"
    etag: str = ""  # validators to store for the next run
    last_modified: str = ""
    permanent_redirect: str = ""  # new URL when the chain was all 301/308 (update the stored URL)
    error: str = ""  # plain words for editors, e.g. "the server says the feed is gone (410)"
    error_code: str = ""  # one of ERROR_CODES
    retry_after: float | None = None  # seconds the server asked us to wait, when it did
    attempts: int = 0
    elapsed: float = 0.0
    history: list[str] = field(default_factory=list)  # URLs of the redirect chain


ERROR_CODES = (
    "timeout",  # connect/read/total timeout (slow drip, endless body)
    "too_large",  # body over max_bytes
    "bomb",  # decompressed body over max_decompressed_bytes
    "redirect_loop",
    "too_many_redirects",
    "not_found",  # 404
    "gone",  # 410: the caller pauses the source at once
    "rate_limited",  # 429 (after retries / Retry-After too long)
    "unavailable",  # 503
    "server_error",  # other 5xx
    "http_error",  # other 4xx
    "connection",  # refused, reset mid-body, DNS failure
    "robots",  # disallowed by robots.txt
    "invalid_url",
    "unsafe_address",  # resolves to a private/loopback/link-local address
    "empty",  # 200 with an empty body
)


class Fetcher:
    """Fetch many URLs concurrently, politely (contract; implementation pending).

    Usage::

        async with Fetcher(policy) as fetcher:
            results = await fetcher.fetch_all(requests)   # same order as requests

    Never raises for a bad URL or a misbehaving server: every problem comes
    back as a :class:`FetchResult` with ``ok=False``, ``error`` and ``error_code``.
    ``transport`` (an ``httpx.AsyncBaseTransport``) lets tests swap the network.
    """

    def __init__(self, policy: FetchPolicy, transport=None) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> "Fetcher":
        raise NotImplementedError

    async def __aexit__(self, *exc) -> None:
        raise NotImplementedError

    async def fetch(self, request: FetchRequest) -> FetchResult:
        raise NotImplementedError

    async def fetch_all(self, requests: list[FetchRequest], on_result=None) -> list[FetchResult]:
        """``on_result(result)`` is called as each finishes (for progress and streaming storage)."""
        raise NotImplementedError


def fetch_all(requests: list[FetchRequest], policy: FetchPolicy, on_result=None) -> list[FetchResult]:
    """Synchronous wrapper: run :meth:`Fetcher.fetch_all` in a fresh event loop."""
    raise NotImplementedError


def decode_body(content: bytes, content_type_header: str) -> tuple[str, str, str]:
    """``(text, encoding, encoding_source)``: declared charset, then BOM, then <meta>/XML declaration, then detection."""
    raise NotImplementedError
