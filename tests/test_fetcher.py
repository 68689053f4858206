"""The polite fetcher against a misbehaving server on loopback (tests/faulty_server.py).

Each fault must end within a bounded time with the right error code and a
plain-words message an editor can read, and must not disturb good URLs
fetched in the same run.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import time

import httpx
import pytest

from alliance_digest.pipeline import fetcher as fetcher_module
from alliance_digest.pipeline.fetcher import FetchPolicy, FetchRequest, Fetcher, decode_body, fetch_all
from alliance_digest.pipeline.netsafety import UnsafeURL
from faulty_server import ACCENTED, JAPANESE, FaultyServer, feed_xml, page_html

UA = "AllianceDigest/0.1 (+https://digest.example.org/contact)"


def policy(**overrides) -> FetchPolicy:
    """Small limits so every fault ends in seconds; loopback allowed (the server is on 127.0.0.1)."""
    settings = dict(user_agent=UA, per_host_concurrency=4, per_host_delay=0.0, connect_timeout=1.0,
                    read_timeout=1.0, total_timeout=3.0, max_bytes=1024 * 1024,
                    max_decompressed_bytes=5 * 1024 * 1024, max_redirects=5, retries=2, backoff=0.1,
                    max_retry_after=5.0, allow_private=True)
    settings.update(overrides)
    return FetchPolicy(**settings)


@pytest.fixture
def srv():
    with FaultyServer(hosts=2) as server:
        yield server


def run(requests, pol=None):
    started = time.monotonic()
    results = fetch_all(requests, pol or policy())
    return results, time.monotonic() - started


def assert_good(feed, page):
    """The good URLs of the same run came through whole."""
    assert feed.ok and feed.error == "" and feed.status == 200, feed.error
    assert feed.content == feed_xml() and feed.content_type == "application/rss+xml"
    assert page.ok and page.status == 200, page.error
    assert page.content == page_html() and JAPANESE in page.text


# (path, kind, error_code, words the editor reads, at most seconds for the whole run)
FAULTS = [
    ("/slow-drip?interval=0.3", "feed", "timeout", r"took longer than the 3 s limit for a whole response", 4.5),
    ("/slow-drip?interval=2", "feed", "timeout", r"the server stopped sending data \(timed out after 1 s\)", 3),
    ("/endless", "feed", "too_large", r"the response is larger than the 1 MB limit", 3),
    ("/too-big", "page", "too_large", r"the response is larger than the 1 MB limit", 3),
    ("/too-big-chunked", "page", "too_large", r"the response is larger than the 1 MB limit", 3),
    ("/bomb", "feed", "bomb", r"expands to more than the 5 MB limit when decompressed", 4),
    ("/redirect-loop", "feed", "redirect_loop", r"the address redirects in a loop \(back to http://.*/redirect-loop\)", 3),
    ("/redirect-chain?n=10", "feed", "too_many_redirects", r"the address redirected more than 5 times", 3),
    ("/404", "feed", "not_found", r"^the feed was not found \(HTTP 404\)$", 3),
    ("/404", "page", "not_found", r"^the page was not found \(HTTP 404\)$", 3),
    ("/410", "feed", "gone", r"^the feed is gone \(HTTP 410\)", 3),
    ("/429-long", "feed", "rate_limited", r"asks us to slow down \(HTTP 429 Too Many Requests\) and to wait 1 hour", 2),
    ("/503?after=", "feed", "unavailable", r"temporarily unavailable \(HTTP 503 Service Unavailable\) after 3 attempts", 3),
    ("/500", "feed", "server_error", r"^the server failed \(HTTP 500 Internal Server Error\) after 3 attempts$", 3),
    ("/status?code=403", "feed", "http_error", r"refused the request \(HTTP 403 Forbidden\)", 3),
    ("/reset", "feed", "connection", r"the connection broke before the whole response arrived", 3),
    ("/empty", "feed", "empty", r"the server sent an empty response \(HTTP 200 OK with no content\)", 3),
    ("/private/page", "page", "robots", r"robots.txt does not allow us to fetch this page", 3),
]


@pytest.mark.parametrize("path,kind,code,words,limit", FAULTS, ids=[f"{f[0]}-{f[1]}" for f in FAULTS])
def test_fault_is_reported_in_plain_words_and_spares_good_urls(srv, path, kind, code, words, limit):
    requests = [FetchRequest(srv.url(path), kind=kind), FetchRequest(srv.url("/feed", host=1)),
                FetchRequest(srv.url("/page"), kind="page")]
    (bad, feed, page), elapsed = run(requests)
    assert elapsed < limit, f"{path} took {elapsed:.1f} s"
    assert not bad.ok and bad.error_code == code, (bad.error_code, bad.error)
    assert re.search(words, bad.error), bad.error
    assert "Traceback" not in bad.error and "httpx" not in bad.error
    assert_good(feed, page)


def test_bad_addresses_are_reported_not_raised(srv):
    with socket_closed_port() as port:
        requests = [FetchRequest("ftp://example.org/feed"), FetchRequest("http://"),
                    FetchRequest(f"http://127.0.0.1:{port}/feed"), FetchRequest(srv.url("/feed"))]
        (ftp, blank, refused, good), elapsed = run(requests)
    assert ftp.error_code == "invalid_url" and "not an http(s) URL" in ftp.error
    assert blank.error_code == "invalid_url"
    assert refused.error_code == "connection" and refused.error.startswith("could not connect to the server")
    assert refused.attempts == 3  # refused connections are retried with back-off
    assert good.ok and elapsed < 3


class socket_closed_port:
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        pass


# -- retries and rate limits -----------------------------------------------------------------------

def test_retry_after_is_honoured_before_the_second_attempt(srv):
    (result, good), _ = run([FetchRequest(srv.url("/429?after=1")), FetchRequest(srv.url("/feed", host=1))])
    assert result.ok and result.status == 200 and result.attempts == 2 and result.content == feed_xml()
    first, second = srv.hits("/429")
    assert second.start - first.start >= 1.0, "the retry came before Retry-After: 1 had passed"
    assert good.ok


def test_retry_after_as_http_date(srv):
    (result,), _ = run([FetchRequest(srv.url("/429-date?after=2"))])
    assert result.ok and result.attempts == 2
    first, second = srv.hits("/429-date")
    assert second.start - first.start >= 1.0  # HTTP dates have 1 s resolution: at least 1 of the 2 s


def test_retry_after_longer_than_the_limit_gives_up_at_once(srv):
    (result,), elapsed = run([FetchRequest(srv.url("/429-long"))], policy(max_retry_after=60))
    assert result.error_code == "rate_limited" and result.retry_after == 3600
    assert result.attempts == 1 and len(srv.hits("/429-long")) == 1 and elapsed < 1.5
    assert "we will try again on a later run" in result.error


def test_503_with_retry_after_then_recovers(srv):
    (result,), _ = run([FetchRequest(srv.url("/503?after=1&times=1"))])
    assert result.ok and result.attempts == 2
    first, second = srv.hits("/503")
    assert second.start - first.start >= 1.0


def test_flapping_server_succeeds_on_retry(srv):
    (result,), _ = run([FetchRequest(srv.url("/flapping"))])
    assert result.ok and result.attempts == 2 and result.content == feed_xml()
    assert [h.start for h in srv.hits("/flapping")][1] - srv.hits("/flapping")[0].start >= 0.1  # back-off


def test_no_retries_when_the_policy_allows_none(srv):
    (result,), _ = run([FetchRequest(srv.url("/flapping"))], policy(retries=0))
    assert result.error_code == "server_error" and result.attempts == 1 and len(srv.hits("/flapping")) == 1


# -- redirects --------------------------------------------------------------------------------------

def test_permanent_redirect_chain_reports_the_new_url(srv):
    (moved, twice, found, mixed), _ = run([FetchRequest(srv.url(p)) for p in
                                           ("/moved", "/moved-twice", "/found", "/moved-then-found")])
    assert moved.ok and moved.permanent_redirect == srv.url("/feed") and moved.history == [srv.url("/moved")]
    assert twice.ok and twice.permanent_redirect == srv.url("/feed")
    assert twice.history == [srv.url("/moved-twice"), srv.url("/moved")]
    assert found.ok and found.permanent_redirect == "" and found.url == srv.url("/feed")
    assert mixed.ok and mixed.permanent_redirect == ""  # one 302 in the chain: keep the stored URL


def test_redirect_to_another_host(srv):
    (result,), _ = run([FetchRequest(srv.url("/redirect-other-host"))])
    assert result.ok and result.url == srv.url("/feed", host=1) and result.content == feed_xml()
    assert srv.hits("/feed", host_key=srv.host_keys[1])


def test_redirect_to_a_private_address_is_refused_at_the_hop(monkeypatch):
    """A public feed redirecting to the metadata service or loopback must not be followed."""

    def check(url, allow_private=False):
        if not allow_private and httpx.URL(url).host in ("169.254.169.254", "127.0.0.1"):
            raise UnsafeURL(f"{url!r} resolves to {httpx.URL(url).host}, a private, loopback or link-local address")
        return url

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    monkeypatch.setattr(fetcher_module, "check_url", check)

    async def go():
        async with Fetcher(policy(allow_private=False), transport=httpx.MockTransport(handler)) as f:
            return await f.fetch(FetchRequest("http://news.example.org/feed"))

    result = asyncio.run(go())
    assert result.error_code == "unsafe_address" and "169.254.169.254" in result.error
    assert seen == ["http://news.example.org/feed"]


def test_loopback_is_refused_unless_allowed(srv):
    (result,), _ = run([FetchRequest(srv.url("/feed"))], policy(allow_private=False))
    assert result.error_code == "unsafe_address" and "loopback" in result.error
    assert srv.requests == []


def _fake_dns(monkeypatch, answers: dict[str, str]):
    """Connection-time lookups (``socket.getaddrinfo``, which the event loop calls) of the names in
    ``answers`` give the mapped address; every other name resolves as usual."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode("ascii") if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        return real(answers.get(name, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_dns_rebinding_is_refused_at_connection_time(srv, monkeypatch):
    """The check sees a public address, the connection lookup loopback: nothing may reach loopback."""
    from alliance_digest.pipeline import netsafety

    real_resolve = netsafety.resolve
    monkeypatch.setattr(netsafety, "resolve", lambda host, port: ["93.184.216.34"] if host == "rebind.test"
                        else real_resolve(host, port))
    _fake_dns(monkeypatch, {"rebind.test": "127.0.0.1"})
    port = srv.servers[0].server_address[1]
    (result,), _ = run([FetchRequest(f"http://rebind.test:{port}/feed")], policy(allow_private=False))
    assert result.error_code == "unsafe_address", (result.error_code, result.error)
    assert "refused for safety" in result.error and "127.0.0.1" in result.error and "rebind.test" in result.error
    assert result.attempts == 1  # a refusal is not retried
    assert srv.requests == []


def test_pinned_connection_goes_to_the_checked_address_and_tls_keeps_the_host_name(monkeypatch):
    """The socket is opened to the resolved IP literal; SNI and certificate checks still use the URL's name."""
    import httpcore

    _fake_dns(monkeypatch, {"pinned.test": "93.184.216.34"})
    seen = {}

    class Stream(httpcore.AsyncMockStream):
        async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            seen["tls"] = (server_hostname, ssl_context.check_hostname, ssl_context.verify_mode)
            return self

    class Backend(httpcore.AsyncMockBackend):
        async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            seen["connect"] = (host, port)
            return Stream(list(self._buffer))

    backend = Backend([b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"])

    async def go():
        transport = fetcher_module._PinnedTransport(httpx.Limits(), backend=backend)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get("https://pinned.test/feed")

    response = asyncio.run(go())
    assert response.status_code == 200 and response.text == "ok"
    assert seen["connect"] == ("93.184.216.34", 443)
    import ssl
    assert seen["tls"] == ("pinned.test", True, ssl.CERT_REQUIRED)


# -- politeness -------------------------------------------------------------------------------------

def test_per_host_concurrency_and_delay_are_respected(srv):
    delay = 0.1  # shorter than the 0.3 s hold: without the limit, 3 requests would overlap
    requests = [FetchRequest(srv.url(f"/page?hold=0.3&i={i}", host=h), kind="feed") for h in (0, 1) for i in range(6)]
    results, elapsed = run(requests, policy(per_host_concurrency=2, per_host_delay=delay))
    assert all(r.ok for r in results)
    for key in srv.host_keys:
        assert srv.max_concurrent(key) == 2  # never more than 2 at once, and the 2 are used
        starts = [hit.start for hit in srv.hits(host_key=key)]
        assert len(starts) == 6
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= delay - 0.03, gaps
    assert elapsed < 3  # the two hosts are served side by side


def test_every_request_names_the_digest(srv):
    run([FetchRequest(srv.url("/page"), kind="page"), FetchRequest(srv.url("/moved")),
         FetchRequest(srv.url("/429?after=0"))])
    assert srv.requests and all(hit.headers.get("user-agent") == UA for hit in srv.requests)
    assert {hit.path for hit in srv.requests} >= {"/robots.txt", "/page", "/moved", "/feed"}


def test_conditional_request_gets_304(srv):
    (first,), _ = run([FetchRequest(srv.url("/feed"))])
    assert first.ok and first.etag == '"feed-v1"' and first.last_modified
    (again,), _ = run([FetchRequest(srv.url("/feed"), etag=first.etag, last_modified=first.last_modified)])
    hit = srv.hits("/feed")[-1]
    assert hit.headers["if-none-match"] == '"feed-v1"' and hit.headers["if-modified-since"] == first.last_modified
    assert again.status == 304 and again.ok and again.not_modified and again.content == b""
    assert again.etag == first.etag and again.last_modified == first.last_modified
    (by_date,), _ = run([FetchRequest(srv.url("/feed"), last_modified=first.last_modified)])
    assert by_date.not_modified and by_date.ok
    srv.config["feed_etag"] = '"feed-v2"'  # the feed changed: a full answer with the new validator
    (changed,), _ = run([FetchRequest(srv.url("/feed"), etag=first.etag)])
    assert changed.ok and not changed.not_modified and changed.etag == '"feed-v2"' and changed.content == feed_xml()


# -- robots.txt -------------------------------------------------------------------------------------

def test_robots_applies_to_pages_only_and_is_fetched_once(srv):
    requests = [FetchRequest(srv.url("/private/page"), kind="page"), FetchRequest(srv.url("/private/page")),
                FetchRequest(srv.url("/page"), kind="page"), FetchRequest(srv.url("/page?again=1"), kind="page")]
    (blocked, as_feed, page, page2), _ = run(requests)
    assert blocked.error_code == "robots" and blocked.attempts == 0
    assert as_feed.ok  # feeds are meant to be read by machines: robots.txt is for pages
    assert page.ok and page2.ok
    assert len(srv.hits("/robots.txt")) == 1 and len(srv.hits("/private/page")) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_missing_robots_allows_all(srv, status):
    srv.config["robots_status"] = status
    (result,), _ = run([FetchRequest(srv.url("/private/page"), kind="page")], policy(retries=0))
    assert result.ok and result.content == page_html()


@pytest.mark.parametrize("status", [500, 503])
def test_failing_robots_disallows_pages_but_not_feeds(srv, status):
    """RFC 9309: robots.txt answering 5xx means "disallow all"; the refusal says why."""
    srv.config["robots_status"] = status
    requests = [FetchRequest(srv.url("/page"), kind="page"), FetchRequest(srv.url("/page?b=1"), kind="page"),
                FetchRequest(srv.url("/feed"))]
    (page, page2, feed), _ = run(requests, policy(retries=0))
    assert page.error_code == page2.error_code == "robots" and not page.ok
    assert f"robots.txt could not be read (it answered HTTP {status})" in page.error
    assert srv.url("/page") in page.error and "\n" not in page.error
    assert srv.hits("/page") == [] and len(srv.hits("/robots.txt")) == 1  # asked once per run
    assert feed.ok  # feeds do not depend on robots.txt


def test_robots_can_be_switched_off(srv):
    (result,), _ = run([FetchRequest(srv.url("/private/page"), kind="page")], policy(respect_robots=False))
    assert result.ok and srv.hits("/robots.txt") == []


# -- bodies: compression, types, feeds that are not feeds --------------------------------------------

def test_gzip_body_is_decompressed_and_the_bomb_is_stopped_early(srv):
    (good, bomb), _ = run([FetchRequest(srv.url("/gzip")), FetchRequest(srv.url("/bomb"))])
    assert good.ok and good.content == feed_xml(items=20)
    assert bomb.error_code == "bomb" and bomb.content == b""


def test_served_as_feed_but_not_usable_is_passed_through_for_the_parser(srv):
    """HTML instead of a feed, broken XML, repeated GUIDs: fetched fine, types reported; parsing judges."""
    (html, broken, dups, image), _ = run([FetchRequest(srv.url(p)) for p in
                                          ("/html-not-feed", "/invalid-xml", "/dup-guids", "/image")])
    assert html.ok and html.content_type == "text/html" and "not a feed" in html.text
    assert broken.ok and broken.content_type == "application/rss+xml" and broken.text.startswith("<?xml")
    assert dups.ok and dups.text.count("dup-guid-1") == 2
    assert image.ok and image.content_type == "image/png" and image.text is None and image.content
    (dups_again,), _ = run([FetchRequest(srv.url("/dup-guids"))])
    assert dups_again.content != dups.content  # the same GUIDs with changed content


def test_on_result_streams_every_result_and_order_is_kept(srv):
    seen = []
    paths = ["/slow-drip?interval=0.3", "/feed", "/404", "/page"]
    results = fetch_all([FetchRequest(srv.url(p)) for p in paths], policy(), on_result=seen.append)
    assert [r.request.url for r in results] == [srv.url(p) for p in paths]
    assert len(seen) == 4 and seen[-1] is results[0]  # the slow one finished last


# -- charsets ---------------------------------------------------------------------------------------

CHARSETS = [
    # (query, expected text, encoding_source)
    ("send=shift_jis&declare=shift_jis", JAPANESE, "declared"),
    ("send=cp1252&declare=iso-8859-1", ACCENTED, "declared"),  # latin-1 labels read as windows-1252
    ("send=utf-8&declare=iso-8859-1&bom=1", JAPANESE, "bom"),  # the BOM wins over the header
    ("send=shift_jis&meta=shift_jis", JAPANESE, "meta"),
    ("send=cp1252&meta=windows-1252", ACCENTED, "meta"),
    ("send=euc_jp&declare=utf-8&meta=euc-jp", JAPANESE, "meta"),  # the header is contradicted, meta is not
    ("send=shift_jis", JAPANESE, "detected"),
    ("send=euc_jp", JAPANESE, "detected"),
    ("send=cp1252", ACCENTED, "detected"),
    ("send=utf-8", ACCENTED, "detected"),
]


@pytest.mark.parametrize("query,expected,source", CHARSETS, ids=[c[0] for c in CHARSETS])
def test_charset_declared_bom_meta_detected(srv, query, expected, source):
    (result,), _ = run([FetchRequest(srv.url(f"/text?{query}"), kind="page")], policy(respect_robots=False))
    assert result.ok and result.encoding_source == source, (result.encoding, result.encoding_source)
    assert expected in result.text
    assert "\ufffd" not in result.text and "\ufeff" not in result.text


@pytest.mark.parametrize("variant,expected", [("utf8-as-latin1", JAPANESE), ("cp1252", ACCENTED),
                                              ("shift_jis", JAPANESE)])
def test_wrong_declared_encoding_is_overruled_by_the_bytes(srv, variant, expected):
    (result,), _ = run([FetchRequest(srv.url(f"/wrong-encoding?variant={variant}"))])
    assert result.ok and result.encoding_source == "detected" and expected in result.text
    if variant == "utf8-as-latin1":
        assert ACCENTED in result.text and result.encoding == "utf-8"


def test_decode_body_edge_cases():
    assert decode_body(codecs.BOM_UTF16_LE + "日本".encode("utf-16-le"), "text/plain") == ("日本", "utf-16", "bom")
    xml = '<?xml version="1.0" encoding="shift_jis"?><rss><title>日本</title></rss>'.encode("shift_jis")
    assert decode_body(xml, "application/xml")[1:] == ("shift_jis", "meta")
    assert decode_body(xml, "application/xml")[0].endswith("<title>日本</title></rss>")
    assert decode_body(b"plain ascii", "text/plain") == ("plain ascii", "utf-8", "default")
    assert decode_body(b"plain ascii", "text/plain; charset=bogus-charset")[2] == "default"
    assert decode_body("Zürich".encode("utf-8"), 'text/html; charset="UTF-8"') == ("Zürich", "utf-8", "declared")
