"""A misbehaving HTTP server on loopback, for fault-injection tests and benchmarks.

Real feeds and sites are slow, huge, mis-encoded, redirect in loops,
rate-limit, vanish or reset connections; each path here is one such
scenario, served by real sockets so the fetcher's timeouts, limits and
politeness are exercised end to end::

    with FaultyServer() as srv:                 # 127.0.0.1, an OS-chosen port, background threads
        srv.url("/feed")                        # http://127.0.0.1:PORT/feed
        srv.requests                            # [Hit(path, headers, start, end)], in arrival order
        srv.max_concurrent()                    # peak requests in flight (per host: host_key="127.0.0.1:PORT")

    with FaultyServer(hosts=3) as srv:          # three ports = three "hosts" for per-host limits
        srv.url("/page", host=2); srv.host_keys

Every path accepts ``?hold=S`` (wait S seconds before answering). Scenarios
are tuned by ``FaultyServer(config={...})`` / ``srv.config`` (see
``DEFAULTS``) or per request by query parameters; ``srv.routes[path] =
fn(query) -> (status, headers, body)`` adds a custom path. Times in
``Hit.start``/``Hit.end`` are ``time.monotonic()``.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import httpx

JAPANESE = "日米同盟の強化について、防衛相は東京で記者会見を開いた。"
ACCENTED = "Le ministre a déclaré à Tokyo que la coopération « très étroite » restait une priorité — c’est déjà l’été à Zürich."
LAST_MODIFIED = "Mon, 02 Nov 2026 09:00:00 GMT"

DEFAULTS = {
    "feed_etag": '"feed-v1"',  # /feed's ETag (change it to simulate an updated feed)
    "feed_last_modified": LAST_MODIFIED,
    "rate_limit_times": 1,  # /429 answers 429 this many times per path, then 200
    "retry_after": "1",  # /429 and /503's Retry-After
    "drip_interval": 1.0,  # /slow-drip: seconds between bytes
    "drip_seconds": 120.0,  # ... and for how long at most
    "too_big_bytes": 2 * 1024 * 1024,  # /too-big and /too-big-chunked
    "bomb_mb": 300,  # /bomb decompresses to this many MB
    "endless_seconds": 60.0,  # /endless stops after this long (a safety net, not a scenario)
    "other_host": "",  # /redirect-other-host target base URL ("" = the next host of this server)
    "robots": "User-agent: AllianceDigest\nDisallow: /private/\n\nUser-agent: *\nDisallow:\n",
    "robots_status": 200,  # 404 or 500 to test a missing or failing robots.txt
}


class Hit(NamedTuple):
    path: str  # as requested, query included
    headers: httpx.Headers  # case-insensitive: hit.headers["if-none-match"]
    start: float
    end: float | None  # None while the answer is still being sent


def feed_xml(title: str = "Faulty Feed", items: int = 3, base: str = "https://news.example.org",
             note: str = "") -> bytes:
    entries = "".join(
        f"<item><title>Alliance story {i}{note}</title><link>{base}/story/{i}</link>"
        f"<guid>{base}/story/{i}</guid><pubDate>Mon, 02 Nov 2026 0{i % 10}:00:00 GMT</pubDate>"
        f"<description>US and Japan talks, part {i}.{note}</description></item>" for i in range(1, items + 1))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{title}</title>'
            f"<link>{base}/</link><description>Test feed</description>{entries}</channel></rss>\n").encode()


def page_html(title: str = "Defence ministers meet in Tokyo", paragraphs: int = 6) -> bytes:
    body = "".join(f"<p>Paragraph {i}: the United States and Japan agreed on closer defence cooperation, "
                   f"officials said on Monday after talks in Tokyo. {JAPANESE}</p>" for i in range(paragraphs))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="og:title" content="{title}">'
            '<meta property="article:published_time" content="2026-11-02T09:00:00Z"></head>'
            f"<body><article><h1>{title}</h1>{body}</article></body></html>\n").encode()


_BOMB_CACHE: dict[int, bytes] = {}


def gzip_bomb(megabytes: int) -> bytes:
    """A single-member gzip of ``megabytes`` MB of zeros (about 1/1000 of that on the wire).

    Built in a fraction of a second (compressing 300 MB would take seconds): one 1 MB block is
    deflated and ended with a full flush, which resets the compressor, so the same bytes can be
    repeated; the trailer carries the real CRC and size.
    """
    if megabytes not in _BOMB_CACHE:
        block = bytes(1024 * 1024)
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        final = compressor.flush()
        crc = 0
        for _ in range(megabytes):
            crc = zlib.crc32(block, crc)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        trailer = struct.pack("<II", crc, (megabytes * len(block)) & 0xFFFFFFFF)
        _BOMB_CACHE[megabytes] = header + piece * megabytes + final + trailer
    return _BOMB_CACHE[megabytes]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):  # keep test output clean
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, BrokenPipeError, TimeoutError, OSError, ValueError):
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    # -- plumbing -----------------------------------------------------------------------------

    def do_GET(self):
        owner = self.server.owner
        key = f"127.0.0.1:{self.server.server_address[1]}"
        start = time.monotonic()
        hit = Hit(self.path, httpx.Headers(list(self.headers.items())), start, None)
        slot = owner._enter(key, hit)
        try:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if "hold" in query:
                time.sleep(float(query["hold"]))
            route = owner.routes.get(parts.path)
            if route is not None:
                self.send(*route(query))
            else:
                handler = getattr(self, "p_" + parts.path.strip("/").replace("-", "_").replace("/", "__").replace(".", "_"),
                                  None)
                if handler is None:
                    self.send(404, {"Content-Type": "text/plain"}, b"no such scenario\n")
                else:
                    handler(query)
        finally:
            owner._leave(key, slot, hit, time.monotonic())

    def send(self, status: int, headers: dict | None = None, body: bytes = b"", chunked: bool = False):
        self.send_response(status)
        headers = dict(headers or {})
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if chunked:
            for i in range(0, len(body), 16384):
                piece = body[i:i + 16384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    def count(self, query) -> int:
        """How many times this path (query included) was asked for, this one included."""
        with self.server.owner.lock:
            self.server.owner.counts[self.path] += 1
            return self.server.owner.counts[self.path]

    def redirect(self, code: int, location: str):
        self.send(code, {"Location": location, "Content-Type": "text/plain"}, b"moved\n")

    @property
    def cfg(self) -> dict:
        return self.server.owner.config

    # -- scenarios ----------------------------------------------------------------------------

    def p_feed(self, q):
        etag, modified = q.get("etag", self.cfg["feed_etag"]), self.cfg["feed_last_modified"]
        headers = {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag, "Last-Modified": modified}
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        fresh = False
        if inm is not None:
            fresh = etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*"
        elif ims is not None:
            try:
                fresh = parsedate_to_datetime(ims) >= parsedate_to_datetime(modified)
            except (TypeError, ValueError):
                fresh = False
        if fresh:
            self.send(304, {"ETag": etag, "Last-Modified": modified})
        else:
            self.send(200, headers, feed_xml(items=int(q.get("items", 3))))

    def p_page(self, q):
        self.send(200, {"Content-Type": "text/html; charset=utf-8"}, page_html(q.get("title", "Defence ministers meet in Tokyo")))

    def p_private__page(self, q):
        self.p_page(q)

    def p_robots_txt(self, q):
        status = int(self.cfg["robots_status"])
        body = self.cfg["robots"].encode() if status == 200 else b"error\n"
        self.send(status, {"Content-Type": "text/plain"}, body)

    def p_slow_drip(self, q):
        interval = float(q.get("interval", self.cfg["drip_interval"]))
        until = time.monotonic() + float(q.get("seconds", self.cfg["drip_seconds"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        while time.monotonic() < until:
            time.sleep(interval)
            self.wfile.write(b"<")
            self.wfile.flush()
        self.close_connection = True

    def p_endless(self, q):
        until = time.monotonic() + float(q.get("seconds", self.cfg["endless_seconds"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"<item>" + b"x" * 16378 + b"</item>"
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        while time.monotonic() < until:
            self.wfile.write(chunk)
        self.close_connection = True

    def p_too_big(self, q):
        size = int(q.get("bytes", self.cfg["too_big_bytes"]))
        self.send(200, {"Content-Type": "text/html"}, b"<p>" + b"x" * size + b"</p>")

    def p_too_big_chunked(self, q):
        size = int(q.get("bytes", self.cfg["too_big_bytes"]))
        self.send(200, {"Content-Type": "text/html"}, b"<p>" + b"x" * size + b"</p>", chunked=True)

    def p_bomb(self, q):
        body = gzip_bomb(int(q.get("mb", self.cfg["bomb_mb"])))
        self.send(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}, body)

    def p_gzip(self, q):  # a well-behaved compressed feed (the control for /bomb)
        self.send(200, {"Content-Type": "application/rss+xml; charset=utf-8", "Content-Encoding": "gzip"},
                  gzip.compress(feed_xml(items=20)))

    def p_redirect_loop(self, q):
        self.redirect(302, "/redirect-loop-b")

    def p_redirect_loop_b(self, q):
        self.redirect(302, "/redirect-loop")

    def p_redirect_chain(self, q):
        n = int(q.get("n", 10))
        code = int(q.get("code", 302))
        self.redirect(code, f"/redirect-chain?n={n - 1}&code={code}" if n > 1 else "/feed")

    def p_redirect_other_host(self, q):
        target = q.get("to") or self.cfg["other_host"] or self.server.owner.base(
            (self.server.owner.index(self.server) + 1) % len(self.server.owner.servers))
        self.redirect(int(q.get("code", 302)), target.rstrip("/") + q.get("path", "/feed"))

    def p_moved(self, q):
        self.redirect(301, "/feed")

    def p_moved_twice(self, q):
        self.redirect(308, "/moved")

    def p_moved_then_found(self, q):
        self.redirect(301, "/found")

    def p_found(self, q):
        self.redirect(302, "/feed")

    def p_404(self, q):
        self.send(404, {"Content-Type": "text/html"}, b"<h1>Not found</h1>")

    def p_410(self, q):
        self.send(410, {"Content-Type": "text/html"}, b"<h1>Gone</h1>")

    def p_429(self, q):
        if self.count(q) <= int(q.get("times", self.cfg["rate_limit_times"])):
            self.send(429, {"Retry-After": q.get("after", self.cfg["retry_after"]), "Content-Type": "text/plain"},
                      b"slow down\n")
        else:
            self.p_feed(q)

    def p_429_long(self, q):
        self.send(429, {"Retry-After": q.get("after", "3600"), "Content-Type": "text/plain"}, b"slow down\n")

    def p_429_date(self, q):  # Retry-After as an HTTP-date, `after` seconds from now, then 200
        if self.count(q) <= int(q.get("times", 1)):
            when = formatdate(time.time() + float(q.get("after", 2)), usegmt=True)
            self.send(429, {"Retry-After": when, "Content-Type": "text/plain"}, b"slow down\n")
        else:
            self.p_feed(q)

    def p_503(self, q):
        if self.count(q) <= int(q.get("times", 10**9)):
            headers = {"Content-Type": "text/plain"}
            if q.get("after", "") != "":
                headers["Retry-After"] = q["after"]
            self.send(503, headers, b"maintenance\n")
        else:
            self.p_feed(q)

    def p_500(self, q):
        self.send(500, {"Content-Type": "text/plain"}, b"boom\n")

    def p_flapping(self, q):
        if self.count(q) % 2 == 1:
            self.send(500, {"Content-Type": "text/plain"}, b"boom\n")
        else:
            self.p_feed(q)

    def p_status(self, q):
        self.send(int(q.get("code", 418)), {"Content-Type": "text/plain"}, b"status\n")

    def p_invalid_xml(self, q):
        self.send(200, {"Content-Type": "application/rss+xml; charset=utf-8"},
                  b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & bad</title>'
                  b"<item><title>Unclosed<title></item></chan")

    def p_wrong_encoding(self, q):
        """Declared charset contradicts the bytes: ``variant`` utf8-as-latin1 (default), cp1252, shift_jis."""
        variant = q.get("variant", "utf8-as-latin1")
        if variant == "cp1252":
            declared, body = "utf-8", ACCENTED * 8
            data = f"<html><body><p>{body}</p></body></html>".encode("cp1252")
        elif variant == "shift_jis":
            declared, body = "utf-8", JAPANESE * 8
            data = f"<html><body><p>{body}</p></body></html>".encode("shift_jis")
        else:
            declared, body = "iso-8859-1", JAPANESE + " " + ACCENTED
            data = f"<html><body><p>{body}</p></body></html>".encode("utf-8")
        self.send(200, {"Content-Type": f"text/html; charset={declared}"}, data)

    def p_text(self, q):
        """Charset cases: ``send`` encoding, ``declare`` (header charset), ``meta`` (<meta charset>), ``bom=1``."""
        send, declare, meta = q.get("send", "utf-8"), q.get("declare", ""), q.get("meta", "")
        text = q.get("text") or (JAPANESE if send.lower().replace("-", "_") in ("shift_jis", "euc_jp", "iso2022_jp")
                                 else JAPANESE + " " + ACCENTED if send.lower().startswith("utf")
                                 else ACCENTED) * 4
        head = f'<meta charset="{meta}">' if meta else ""
        data = f"<html><head>{head}</head><body><p>{text}</p></body></html>".encode(send)
        if q.get("bom") == "1":
            data = ({"utf-8": b"\xef\xbb\xbf"}.get(send.lower(), b"")) + data
        ctype = q.get("type", "text/html") + (f"; charset={declare}" if declare else "")
        self.send(200, {"Content-Type": ctype}, data)

    def p_html_not_feed(self, q):
        self.send(200, {"Content-Type": "text/html; charset=utf-8"}, page_html("This is a web page, not a feed"))

    def p_empty(self, q):
        self.send(200, {"Content-Type": "application/rss+xml"}, b"")

    def p_reset(self, q):
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(feed_xml()[:200])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def p_dup_guids(self, q):
        n = self.count(q)
        base = "https://news.example.org"
        items = "".join(
            f"<item><title>Version {n}: story {label}</title><link>{base}/dup/{label}</link>"
            f"<guid isPermaLink=\"false\">dup-guid-1</guid><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate>"
            f"<description>Text of request {n}, copy {label}.</description></item>" for label in ("a", "b"))
        items += (f"<item><title>Unique story (request {n})</title><link>{base}/unique</link>"
                  f"<guid>{base}/unique</guid><description>Changed on request {n}.</description></item>")
        self.send(200, {"Content-Type": "application/rss+xml; charset=utf-8"},
                  (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Dups</title>'
                   f"<link>{base}/</link><description>d</description>{items}</channel></rss>").encode())

    def p_image(self, q):
        self.send(200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    owner: "FaultyServer"

    def handle_error(self, request, client_address):  # a client hanging up mid-scenario is expected
        pass


class FaultyServer:
    """One or more loopback HTTP servers (one per "host"), each in a background thread."""

    def __init__(self, hosts: int = 1, config: dict | None = None):
        self.config = {**DEFAULTS, **(config or {})}
        self.routes: dict = {}
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.requests: list[Hit] = []
        self._live: Counter = Counter()
        self._peak: Counter = Counter()
        self._host_of: list[str] = []  # host key of each entry of self.requests
        self.servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._hosts = hosts

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "FaultyServer":
        for _ in range(self._hosts):
            server = _Server(("127.0.0.1", 0), _Handler)
            server.owner = self
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self.servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "FaultyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------

    def index(self, server: _Server) -> int:
        return self.servers.index(server)

    @property
    def host_keys(self) -> list[str]:
        return [f"127.0.0.1:{server.server_address[1]}" for server in self.servers]

    def base(self, host: int = 0) -> str:
        return f"http://{self.host_keys[host]}"

    def url(self, path: str = "/", host: int = 0) -> str:
        return self.base(host) + (path if path.startswith("/") else "/" + path)

    # -- records ------------------------------------------------------------------------------

    def _enter(self, key: str, hit: Hit) -> int:
        """Record a request as soon as it is received (before the client can see any answer)."""
        with self.lock:
            self._live[key] += 1
            self._peak[key] = max(self._peak[key], self._live[key])
            self.requests.append(hit)
            self._host_of.append(key)
            return len(self.requests) - 1

    def _leave(self, key: str, slot: int, hit: Hit, end: float) -> None:
        with self.lock:
            self._live[key] -= 1
            if slot < len(self.requests) and self.requests[slot] is hit:  # not forgotten by reset()
                self.requests[slot] = self.requests[slot]._replace(end=end)

    def max_concurrent(self, host_key: str | None = None) -> int:
        """Peak requests in flight at once to ``host_key`` ("127.0.0.1:PORT"), or to any one host."""
        with self.lock:
            return self._peak[host_key] if host_key else max(self._peak.values(), default=0)

    def hits(self, path: str | None = None, host_key: str | None = None) -> list[Hit]:
        """Completed requests, oldest start first, filtered by path (query ignored) and/or host."""
        with self.lock:
            hits = [hit for hit, key in zip(self.requests, self._host_of) if host_key in (None, key)]
        if path is not None:
            hits = [hit for hit in hits if urlsplit(hit.path).path == path]
        return sorted(hits, key=lambda hit: hit.start)

    def reset(self) -> None:
        """Forget records and counters (between phases of one test)."""
        with self.lock:
            self.requests.clear()
            self._host_of.clear()
            self.counts.clear()
            self._peak.clear()
