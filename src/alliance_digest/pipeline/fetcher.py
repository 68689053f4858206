"""The polite, concurrent HTTP fetcher (asynchronous httpx).

Why one module: every network read of the digest (feeds, article pages,
robots.txt, URLs editors paste) goes through here, so politeness (per-host
concurrency and delay, conditional requests, Retry-After, back-off) and
safety limits (timeouts, body size, decompressed size, redirects) hold
everywhere.

Why redirects and decompression are done here rather than by httpx: each
redirect hop must pass the address-safety check, the robots.txt check and the
per-host politeness of *its* host, and a compression bomb must be stopped
before it is inflated (httpx inflates a whole network chunk at once, up to
~1000x its size); ``zlib`` with ``max_length`` never produces more than the
remaining budget.

Why connections go through ``_PinnedBackend`` (when private addresses are not
allowed): ``check_url`` resolves a host name to vet it, and a connection would
resolve it again, so a hostile DNS server could answer a public address to the
check and 127.0.0.1 or 169.254.169.254 to the connection (DNS rebinding). The
backend resolves once, refuses unless every address is public, and connects
to that checked IP literal; TLS still verifies the URL's host name. A
caller-supplied ``transport`` (tests) replaces the whole network layer, this
backend included.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import math
import re
import socket
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib import robotparser

import httpcore
import httpx

from alliance_digest.pipeline.netsafety import UnsafeURL, check_url, is_public_address


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
    kind: str = "feed"  # "feed", "page" (robots.txt applies to pages) or "image"
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
    attempts: int = 0  # HTTP requests sent for this fetch (retries and redirect hops included)
    elapsed: float = 0.0  # seconds, politeness waits included
    history: list[str] = field(default_factory=list)  # URLs that answered with a redirect, in order


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
    "bad_response",  # a body that cannot be decoded (corrupt gzip/deflate)
)

REDIRECT_CODES = (301, 302, 303, 307, 308)
PERMANENT_REDIRECTS = (301, 308)
ACCEPT = {
    "feed": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
    "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
    "image": "image/png, image/jpeg, image/webp, image/gif, image/*;q=0.5",
}


# --- plain words ---------------------------------------------------------------------------------

def _size(n: int) -> str:
    """``1048576`` -> ``"1 MB"``: limits as editors write them."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{n} bytes"


def _duration(seconds: float) -> str:
    """``3600`` -> ``"1 hour"``, ``1.5`` -> ``"1.5 s"``."""
    if seconds >= 7200:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 3600:
        return "1 hour" if seconds < 5400 else f"{seconds / 3600:.1f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{round(seconds, 1):g} s"


def _reason(status: int) -> str:
    try:
        from http import HTTPStatus
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class _Failure(Exception):
    """One attempt failed; ``retryable`` says whether another attempt may help."""

    def __init__(self, code: str, message: str, retryable: bool = False, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable
        self.status, self.retry_after = status, retry_after


# --- decompression with a budget ------------------------------------------------------------------

class _Inflater:
    """gzip/deflate decoding that never produces more than the remaining byte budget."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._wbits = zlib.MAX_WBITS | 32 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._first = True

    def feed(self, data: bytes, budget: int) -> bytes:
        """Inflate ``data``; raise ``_Failure('bomb')`` when output would exceed ``budget`` bytes."""
        out = []
        while data:
            try:
                piece = self._obj.decompress(data, budget + 1)
            except zlib.error:
                if self._first and self.encoding == "deflate" and self._wbits > 0:
                    # Some servers send raw deflate (no zlib header): retry once as raw.
                    self._wbits = -zlib.MAX_WBITS
                    self._obj = zlib.decompressobj(self._wbits)
                    continue
                raise _Failure("bad_response", "the server sent a corrupt compressed body") from None
            self._first = False
            if len(piece) > budget:
                raise _Failure("bomb", "")
            budget -= len(piece)
            out.append(piece)
            # Multi-member gzip: a finished member followed by more data starts a new member.
            data = self._obj.unused_data if self._obj.eof else b""
            if data:
                self._obj = zlib.decompressobj(self._wbits)
        return b"".join(out)


# --- charsets ------------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""", re.I)
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.I)


def _codec(label: str) -> str:
    """Python's codec for a charset label ('' when unknown); iso-8859-1/ascii read as windows-1252 (WHATWG)."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return ""
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def _decode_as(content: bytes, codec: str) -> str | None:
    """``content`` decoded with ``codec``, or None when the bytes contradict it."""
    if not codec.startswith("utf") and not content.isascii():
        # Another label on valid multi-byte UTF-8 is the commonest server mistake (legacy-encoded
        # text is practically never valid UTF-8 beyond a few characters).
        try:
            content.decode("utf-8")
            return None
        except UnicodeDecodeError:
            pass
    try:
        return content.decode(codec)
    except UnicodeDecodeError:
        if codec == "cp1252":  # five bytes are undefined in windows-1252: read those as latin-1
            return content.decode("latin-1")
        return None
    except LookupError:
        return None


def declared_charset(content_type_header: str) -> str:
    match = _CHARSET.search(content_type_header or "")
    return match.group(1) if match else ""


def decode_body(content: bytes, content_type_header: str) -> tuple[str, str, str]:
    """``(text, encoding, encoding_source)``.

    Order: a BOM wins; then the charset declared in Content-Type, unless the
    bytes contradict it (declared latin-1/ascii on valid multi-byte UTF-8, or
    declared UTF-8/Shift_JIS/... on bytes invalid in it); then ``<meta
    charset>`` or the XML declaration, checked the same way; then detection
    (valid UTF-8 first, then ``charset-normalizer``); else UTF-8 with
    replacement characters ("default").
    """
    for bom, codec in _BOMS:
        if content.startswith(bom):
            text = content.decode(codec, errors="replace")
            return text.lstrip("\ufeff"), codec, "bom"
    codec = _codec(declared_charset(content_type_header))
    if codec and (text := _decode_as(content, codec)) is not None:
        return text, codec, "declared"
    head = content[:4096]
    match = _XML_DECL.search(head) or _META.search(head)
    if match:
        codec = _codec(match.group(1).decode("ascii", "replace"))
        if codec and (text := _decode_as(content, codec)) is not None:
            return text, codec, "meta"
    if content.isascii():
        return content.decode("ascii"), "utf-8", "default"
    if (text := _decode_as(content, "utf-8")) is not None:
        return text, "utf-8", "detected"
    best = _detect(content)
    if best is not None:
        return str(best), best.encoding, "detected"
    return content.decode("utf-8", errors="replace"), "utf-8", "default"


# The web's commonest legacy encodings, commonest first: near-ties in detection go to them
# (charset-normalizer alone may read short French in windows-1252 as Baltic windows-1257).
_COMMON = ("cp1252", "cp932", "shift_jis", "euc_jp", "gb18030", "gbk", "big5", "euc_kr", "cp1251", "cp1250")
_FAMILY = {"euc_jis_2004": "euc_jp", "euc_jisx0213": "euc_jp", "shift_jis_2004": "shift_jis",
           "shift_jisx0213": "shift_jis", "cp949": "euc_kr", "gb2312": "gbk", "big5hkscs": "big5"}


def _rank(encoding: str) -> int:
    encoding = _FAMILY.get(encoding, encoding)
    return _COMMON.index(encoding) if encoding in _COMMON else len(_COMMON)


def _detect(content: bytes):
    """charset-normalizer's best reading, near-ties resolved in favour of common encodings."""
    from charset_normalizer import from_bytes

    matches = [match for match in from_bytes(content) if match.encoding]
    if not matches:
        return None
    best = matches[0]
    near = [match for match in matches
            if match.chaos < best.chaos + 0.09 and match.coherence >= best.coherence - 0.05]
    return min(near, key=lambda match: _rank(match.encoding))  # min keeps the first (best) on equal rank


_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/")
_BINARY_TYPES = {"application/pdf", "application/zip", "application/gzip", "application/x-gzip",
                 "application/x-tar", "application/wasm", "application/vnd.ms-fontobject"}


def is_text(content_type: str, content: bytes) -> bool:
    """Whether a body is text: by type, and by sniffing for missing or generic types."""
    if content_type.startswith(_BINARY_PREFIXES) or content_type in _BINARY_TYPES:
        return False
    if content_type.startswith("text/") or content_type.endswith(("+xml", "/xml", "+json", "/json")):
        return True
    # Unknown, empty or application/octet-stream (a common misconfiguration for feeds): sniff.
    head = content[:1024]
    return b"\x00" not in head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


# --- politeness ----------------------------------------------------------------------------------

class _Host:
    """One host's politeness: at most ``concurrency`` requests in flight, starts ``delay`` apart."""

    def __init__(self, concurrency: int, delay: float):
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.turn = asyncio.Lock()  # FIFO: requests start in the order they asked
        self.delay = max(0.0, delay)
        self.next_start = 0.0  # loop time before which no request may start
        self.not_before = 0.0  # set by Retry-After / back-off on 429 and 503

    async def wait_turn(self) -> None:
        """Called holding a slot: wait until this host may receive the next request."""
        loop = asyncio.get_running_loop()
        async with self.turn:
            while (wait := max(self.next_start, self.not_before) - loop.time()) > 0:
                await asyncio.sleep(wait)
            self.next_start = loop.time() + self.delay

    def sent(self) -> None:
        """The request is on the wire now: count the delay from here, so connection setup
        (or a busy event loop) between our turn and the send never brings two requests closer
        than ``delay`` at the server."""
        self.next_start = max(self.next_start, asyncio.get_running_loop().time() + self.delay)

    def hold_off(self, seconds: float) -> None:
        """The server asked everyone to wait (429/503): no request to it for ``seconds``."""
        self.not_before = max(self.not_before, asyncio.get_running_loop().time() + seconds)


def host_key(url: httpx.URL) -> str:
    """``host:port`` (the default port made explicit): the unit of per-host politeness."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connect only to addresses this backend itself resolved and found public.

    The name is resolved once (``loop.getaddrinfo``, in a worker thread); one
    non-public address refuses the connection (:class:`UnsafeURL`, which httpx
    passes through unchanged); otherwise the addresses are tried in the
    resolver's order as IP literals. httpcore takes the TLS server name from the
    request's origin (``start_tls(server_hostname=...)``), not from the address
    connected to, so SNI and certificate checks still use the URL's host name.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options=None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"looking up {host!r} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            if not is_public_address(address):
                raise UnsafeURL(f"when connecting, {host!r} resolved to {address}, a private, loopback or "
                                "link-local address (allow it with allow_private_addresses in the profile's "
                                "[fetch] section)")
        failure: Exception = httpcore.ConnectError(f"no address found for {host!r}")
        for address in addresses:
            try:
                return await self._backend.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                       socket_options=socket_options)
            except httpcore.ConnectError as exc:  # refused or unreachable: the next address may answer
                failure = exc
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options=None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used by the fetcher")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (TLS, HTTP/1.1, exception mapping) over a pool that uses ``_PinnedBackend``.

    httpx 0.28 takes no ``network_backend``, so the pool it built is replaced
    with an identical one that has it (httpx and httpcore are pinned exactly).
    """

    def __init__(self, limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(backend))


@dataclass
class _Response:
    url: str
    status: int
    headers: httpx.Headers
    content: bytes = b""


class Fetcher:
    """Fetch many URLs concurrently, politely.

    Usage::

        async with Fetcher(policy) as fetcher:
            results = await fetcher.fetch_all(requests)   # same order as requests

    Never raises for a bad URL or a misbehaving server: every problem comes
    back as a :class:`FetchResult` with ``ok=False``, ``error`` and ``error_code``.
    ``transport`` (an ``httpx.AsyncBaseTransport``) lets tests swap the network;
    it replaces the pinned-address backend too (see the module docstring).
    Per-host state (slots, delays, Retry-After, robots.txt) lives as long as
    the Fetcher, so one Fetcher per run keeps a run polite as a whole.
    """

    def __init__(self, policy: FetchPolicy, transport=None) -> None:
        self.policy = policy
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, asyncio.Future] = {}

    def _make_client(self) -> httpx.AsyncClient:
        p = self.policy
        # Per-host slots bound the connections; the pool itself must never make a request wait.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=30)
        transport = self._transport
        if transport is None and not p.allow_private:
            transport = _PinnedTransport(limits)  # connect to the address that was checked
        # trust_env=False: an environment proxy would resolve and connect for us, and the
        # address-safety check on each hop would vouch for nothing.
        return httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(connect=p.connect_timeout, read=p.read_timeout, write=p.read_timeout,
                                  pool=None),
            limits=limits,
            headers={"User-Agent": p.user_agent, "Accept-Encoding": "gzip, deflate"})

    async def __aenter__(self) -> "Fetcher":
        if self._client is None:
            self._client = self._make_client()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        pending = [future for future in self._robots.values() if not future.done()]
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- public -------------------------------------------------------------------------------

    async def fetch_all(self, requests: list[FetchRequest], on_result=None) -> list[FetchResult]:
        """``on_result(result)`` is called as each finishes (for progress and streaming storage)."""
        tasks = [asyncio.ensure_future(self.fetch(request)) for request in requests]
        try:
            for done in asyncio.as_completed(tasks):
                result = await done
                if on_result is not None:
                    on_result(result)
        finally:
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return [task.result() for task in tasks]

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """One URL, redirects followed, retries within the policy; never raises for network faults."""
        if self._client is None:
            self._client = self._make_client()
        started = time.monotonic()
        result = FetchResult(request=request, url=str(request.url or "").strip())
        try:
            await self._fetch(request, result)
        except _Failure as failure:
            self._fail(result, failure)
        except Exception as exc:  # noqa: BLE001 - a fetch must never take the run down
            self._fail(result, _Failure("connection", f"the fetch failed unexpectedly ({type(exc).__name__}: {exc})"))
        result.elapsed = time.monotonic() - started
        return result

    # -- one fetch ----------------------------------------------------------------------------

    @staticmethod
    def _fail(result: FetchResult, failure: _Failure) -> None:
        result.ok = False
        result.error_code, result.error = failure.code, failure.message
        if failure.status is not None:
            result.status = failure.status
        if failure.retry_after is not None:
            result.retry_after = failure.retry_after

    async def _check_safe(self, url: str) -> httpx.URL:
        """Parse and vet one URL (every hop): http(s), a host, and a public address unless allowed."""
        try:
            check_url(url, allow_private=True)  # syntax only: no DNS
            parsed = httpx.URL(url)
        except (UnsafeURL, httpx.InvalidURL, ValueError) as exc:
            raise _Failure("invalid_url", f"the address is not a valid web address: {exc}") from None
        if not self.policy.allow_private:
            try:
                await asyncio.to_thread(check_url, url, False)  # DNS must not block the loop
            except UnsafeURL as exc:
                message = str(exc)
                if message.startswith("cannot resolve"):
                    raise _Failure("connection", f"could not find the server ({message})", retryable=False) from None
                raise _Failure("unsafe_address", f"refused for safety: {message}") from None
        return parsed

    async def _fetch(self, request: FetchRequest, result: FetchResult) -> None:
        policy, noun = self.policy, (request.kind if request.kind in ("page", "image") else "feed")
        url = result.url
        seen = {url}
        permanent = True
        for hop in range(policy.max_redirects + 1):
            parsed = await self._check_safe(url)
            if request.kind == "page" and policy.respect_robots:
                refusal = await self._robots_refusal(parsed)
                if refusal:
                    raise _Failure("robots", f"{refusal} ({url})")
            result.status = None  # a failure on this hop must not report the previous hop's status
            response = await self._attempts(url, request, result)
            result.url, result.status = url, response.status
            if response.status in REDIRECT_CODES:
                location = response.headers.get("location", "").strip()
                if not location:
                    raise _Failure("http_error", f"the server redirected without saying where ({_reason(response.status)})",
                                   status=response.status)
                try:
                    target = str(parsed.join(location))
                except (httpx.InvalidURL, ValueError):
                    raise _Failure("invalid_url", f"the server redirected to an invalid address: {location!r}") from None
                result.history.append(url)
                permanent = permanent and response.status in PERMANENT_REDIRECTS
                if target in seen:
                    raise _Failure("redirect_loop", f"the address redirects in a loop (back to {target})",
                                   status=response.status)
                if hop == policy.max_redirects:
                    raise _Failure("too_many_redirects",
                                   f"the address redirected more than {policy.max_redirects} times (last to {target})",
                                   status=response.status)
                seen.add(target)
                url = target
                continue
            if result.history and permanent:
                result.permanent_redirect = url
            self._finish(request, result, response, noun)
            return

    def _finish(self, request: FetchRequest, result: FetchResult, response: _Response, noun: str) -> None:
        """Turn the final response into the result (status -> ok/error, body -> text)."""
        status, headers = response.status, response.headers
        result.etag = headers.get("etag", "")
        result.last_modified = headers.get("last-modified", "")
        if status == 304:
            if not (request.etag or request.last_modified):
                raise _Failure("http_error", "the server answered 304 Not Modified to a request without validators",
                               status=status)
            result.ok = result.not_modified = True
            result.etag = result.etag or request.etag
            result.last_modified = result.last_modified or request.last_modified
            return
        if status == 404:
            raise _Failure("not_found", f"the {noun} was not found (HTTP 404)", status=status)
        if status == 410:
            raise _Failure("gone", f"the {noun} is gone (HTTP 410): the site removed it for good", status=status)
        if not 200 <= status < 300:
            raise _Failure("http_error", f"the server refused the request ({_reason(status)})", status=status)
        header = headers.get("content-type", "")
        result.content_type = header.split(";", 1)[0].strip().lower()
        result.content = response.content
        if not response.content.strip():
            raise _Failure("empty", f"the server sent an empty response ({_reason(status)} with no content)",
                           status=status)
        if is_text(result.content_type, response.content):
            result.text, result.encoding, result.encoding_source = decode_body(response.content, header)
        result.ok = True

    async def _attempts(self, url: str, request: FetchRequest, result: FetchResult) -> _Response:
        """One hop with retries: 429/503 (Retry-After or back-off, host-wide), other 5xx, connection errors.

        Timeouts and size limits are not retried: a slow or oversized answer stays so, and
        retrying would only multiply the wait.
        """
        policy = self.policy
        host = self._host(httpx.URL(url))
        for attempt in range(policy.retries + 1):
            last = attempt == policy.retries
            result.attempts += 1
            try:
                response = await self._exchange(url, request, host)
            except _Failure as failure:
                if not failure.retryable or last:
                    if failure.retryable and attempt:
                        failure.message += f" ({attempt + 1} attempts)"
                    raise
                await asyncio.sleep(policy.backoff * 2**attempt)
                continue
            status = response.status
            if status < 500 and status != 429:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status in (429, 503):
                code = "rate_limited" if status == 429 else "unavailable"
                what = ("the server asks us to slow down" if status == 429
                        else "the server is temporarily unavailable")
                if retry_after is not None and retry_after > policy.max_retry_after:
                    raise _Failure(code, f"{what} ({_reason(status)}) and to wait {_duration(retry_after)} "
                                         f"(more than our {_duration(policy.max_retry_after)} limit); "
                                         "we will try again on a later run",
                                   status=status, retry_after=retry_after)
                if last:
                    tail = f" after {attempt + 1} attempts" if attempt else ""
                    raise _Failure(code, f"{what} ({_reason(status)}){tail}", status=status, retry_after=retry_after)
                host.hold_off(retry_after if retry_after is not None else policy.backoff * 2**attempt)
                continue
            if last:
                tail = f" after {attempt + 1} attempts" if attempt else ""
                raise _Failure("server_error", f"the server failed ({_reason(status)}){tail}", status=status)
            await asyncio.sleep(policy.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _host(self, url: httpx.URL) -> _Host:
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(self.policy.per_host_concurrency, self.policy.per_host_delay)
        return host

    async def _exchange(self, url: str, request: FetchRequest, host: _Host) -> _Response:
        """One HTTP request under the host's politeness, body read within the limits."""
        policy = self.policy
        headers = {"Accept": ACCEPT.get(request.kind, "*/*")}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        async def trace(event: str, info: dict) -> None:
            if event == "http11.send_request_headers.started":
                host.sent()

        async with host.slots:
            await host.wait_turn()
            try:
                async with asyncio.timeout(policy.total_timeout):
                    sending = self._client.build_request("GET", url, headers=headers, extensions={"trace": trace})
                    response = await self._client.send(sending, stream=True)
                    try:
                        content = b""
                        if 200 <= response.status_code < 300:
                            content = await self._read_body(response)
                    except _Failure as failure:
                        failure.status = response.status_code
                        raise
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise _Failure("timeout", "the server sent the response too slowly: it took longer than the "
                                          f"{_duration(policy.total_timeout)} limit for a whole response") from None
            except UnsafeURL as exc:  # from _PinnedBackend: the connection-time lookup was not public
                raise _Failure("unsafe_address", f"refused for safety: {exc}") from None
            except httpx.ConnectTimeout:
                raise _Failure("timeout", "could not connect to the server "
                                          f"(timed out after {_duration(policy.connect_timeout)})") from None
            except httpx.TimeoutException:
                raise _Failure("timeout", "the server stopped sending data "
                                          f"(timed out after {_duration(policy.read_timeout)})") from None
            except httpx.ConnectError as exc:
                raise _Failure("connection", f"could not connect to the server ({str(exc) or 'refused'})",
                               retryable=True) from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise _Failure("connection", "the connection broke before the whole response arrived "
                                             f"({str(exc) or type(exc).__name__})", retryable=True) from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise _Failure("invalid_url", f"the address is not a valid web address: {exc}") from None
            except httpx.DecodingError:
                raise _Failure("bad_response", "the server sent a corrupt compressed body") from None
            except httpx.HTTPError as exc:
                raise _Failure("connection", f"the request failed ({type(exc).__name__}: {exc})",
                               retryable=True) from None
        return _Response(url, response.status_code, response.headers, content)

    async def _read_body(self, response: httpx.Response) -> bytes:
        """The body, stopped as soon as it exceeds max_bytes on the wire or max_decompressed_bytes decoded."""
        policy = self.policy
        too_large = _Failure("too_large", f"the response is larger than the {_size(policy.max_bytes)} limit")
        bomb = _Failure("bomb", f"the response expands to more than the {_size(policy.max_decompressed_bytes)} "
                                "limit when decompressed (a compression bomb)")
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > policy.max_bytes:
            raise too_large
        encoding = response.headers.get("content-encoding", "").strip().lower()
        chunks: list[bytes] = []
        size = 0
        if encoding in ("", "identity", "gzip", "x-gzip", "deflate"):
            inflater = _Inflater(encoding) if encoding not in ("", "identity") else None
            async for raw in response.aiter_raw():
                if response.num_bytes_downloaded > policy.max_bytes:
                    raise too_large
                if inflater is not None:
                    try:
                        raw = inflater.feed(raw, policy.max_decompressed_bytes - size)
                    except _Failure as failure:
                        raise (bomb if failure.code == "bomb" else failure) from None
                elif size + len(raw) > policy.max_decompressed_bytes:
                    raise bomb
                size += len(raw)
                chunks.append(raw)
        else:  # an encoding we did not ask for (br, zstd, chains): httpx decodes, we count.
            async for piece in response.aiter_bytes():
                if response.num_bytes_downloaded > policy.max_bytes:
                    raise too_large
                size += len(piece)
                if size > policy.max_decompressed_bytes:
                    raise bomb
                chunks.append(piece)
        return b"".join(chunks)

    # -- robots.txt ---------------------------------------------------------------------------

    async def _robots_refusal(self, url: httpx.URL) -> str:
        """Why robots.txt of the URL's origin forbids the page ("" when allowed; read once per origin).

        RFC 9309: a robots.txt that is missing or answers 4xx allows everything; one that
        answers 5xx or cannot be reached means "disallow everything" (the site may be
        overloaded and its rules are unknown). Known per run: a later run asks again.
        """
        origin = f"{url.scheme}://{host_key(url)}"
        future = self._robots.get(origin)
        if future is None:
            future = self._robots[origin] = asyncio.ensure_future(self._load_robots(origin))
        rules = await asyncio.shield(future)
        if rules is None:
            return ""
        if isinstance(rules, str):
            return rules
        target = url.raw_path.decode("ascii", "replace") or "/"
        return "" if rules.can_fetch(self.policy.user_agent, target) else \
            "the site's robots.txt does not allow us to fetch this page"

    async def _load_robots(self, origin: str) -> robotparser.RobotFileParser | str | None:
        """The parsed rules; None (allow all) when robots.txt is missing or answers 4xx; a
        plain-words reason (disallow all) when it answers 5xx or cannot be reached."""
        result = await self.fetch(FetchRequest(url=f"{origin}/robots.txt", kind="robots"))
        if result.ok and not result.not_modified and result.text is not None:
            parser = robotparser.RobotFileParser()
            parser.parse(result.text.splitlines())
            return parser
        if result.ok or (result.status is not None and result.status < 500):
            return None  # missing, 4xx, empty: the site states no rules
        cause = f"it answered HTTP {result.status}" if result.status else (result.error or "no answer")
        return (f"the site's robots.txt could not be read ({cause}): its rules are unknown, "
                "so the page is not fetched (RFC 9309)")


def fetch_all(requests: list[FetchRequest], policy: FetchPolicy, on_result=None,
              transport=None) -> list[FetchResult]:
    """Synchronous wrapper: run :meth:`Fetcher.fetch_all` in a fresh event loop (not from inside one)."""

    async def run() -> list[FetchResult]:
        async with Fetcher(policy, transport=transport) as fetcher:
            return await fetcher.fetch_all(requests, on_result=on_result)

    return asyncio.run(run())
