"""Sources end to end: fault injection at the source level, health, politeness, schedule, CLI, OPML.

Every check runs against tests/faulty_server.py on loopback: a misbehaving
source is checked together with a good one (on another "host") in the same
fetcher run, and articles stored before the run must come out unchanged.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from faulty_server import FaultyServer, page_html

FETCH = {  # small limits so every scenario ends in a few seconds
    "per_host_concurrency": 2, "per_host_delay": 0.0, "connect_timeout": 1.0, "read_timeout": 1.0,
    "total_timeout": 3.0, "max_bytes": 1_000_000, "max_decompressed_bytes": 3_000_000, "retries": 1,
    "max_retry_after": 2.0, "allow_private_addresses": True, "pause_after_failures": 3,
    "min_interval_minutes": 30, "max_interval_minutes": 1440,
}


def configure(home: Path, **fetch) -> None:
    """The workspace's [fetch] settings for loopback tests, and no real outlets' [[sources]]."""
    text = (home / "digest.toml").read_text("utf-8")
    if "# Sources: real outlets' feeds." in text:
        text = text[:text.index("# Sources: real outlets' feeds.")]
    for key, value in {**FETCH, **fetch}.items():
        rendered = str(value).lower() if isinstance(value, bool) else str(value)
        text, n = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {rendered} ", text, count=1)
        assert n == 1, key
    (home / "digest.toml").write_text(text, "utf-8")


@pytest.fixture
def ws(home):
    configure(home)
    return home


def load(home: Path):
    from alliance_digest.profile import load_profile

    return load_profile(home / "digest.toml")


def make_source(url: str, name: str = "", **fields):
    from alliance_digest.db.models import Source

    return Source.objects.create(url=url, name=name or url, origin="test", **fields)


def reload(source):
    source.refresh_from_db()
    return source


def store_earlier(profile) -> dict:
    """Articles stored before the run; one shares a URL with the good feed's first item."""
    from alliance_digest import services
    from alliance_digest.db.models import Article
    from alliance_digest.pipeline.records import ArticleRecord
    from alliance_digest.pipeline.urls import canonicalise

    when = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
    records = [ArticleRecord(url=url, canonical_url=canonicalise(url), guid=url, title=f"Stored earlier {i}",
                             summary=f"Earlier summary {i}", text=f"Earlier full text {i} about Japan and the US.",
                             author="Desk", source="Earlier Outlet", published=when, image="https://earlier.example/i.jpg",
                             image_alt="alt", origin="earlier")
               for i, url in enumerate(["https://earlier.example/a", "https://earlier.example/b",
                                        "https://news.example.org/story/1"])]
    services.store_articles(records, profile, services.IngestReport())
    return snapshot(Article.objects.all())


def snapshot(rows) -> dict:
    return {a.pk: (a.canonical_url, a.url, a.title, a.summary, a.text, a.author, a.published, a.image_url)
            for a in rows}


def unchanged(before: dict) -> bool:
    from alliance_digest.db.models import Article

    return snapshot(Article.objects.filter(pk__in=before)) == before


# ------------------------------------------------------------------ fault injection at the source level ---

def wrong_encoding_feed(query):
    """UTF-8 bytes (XML declaration says utf-8) under an HTTP header claiming ISO-8859-1."""
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Enc</title>'
            "<link>https://enc.example/</link><description>d</description><item>"
            "<title>日米防衛相会談 — Café talks in Zürich</title><link>https://enc.example/1</link>"
            "<description>日米同盟の強化について</description></item></channel></rss>").encode("utf-8")
    return 200, {"Content-Type": "application/rss+xml; charset=iso-8859-1"}, body


def wrong_encoding_page(query):
    """A page whose UTF-8 bytes are declared ISO-8859-1 (the commonest server mistake)."""
    return 200, {"Content-Type": "text/html; charset=iso-8859-1"}, page_html("日米同盟 — Café summit in Tokyo")


# (path, kind, expected error code or None for success, words the error must contain, extra check)
SCENARIOS = [
    ("/slow-drip?interval=0.3", "page", "timeout", "", None),
    ("/endless", "feed", "too_large", "", None),
    ("/too-big", "page", "too_large", "", None),
    ("/bomb?mb=20", "feed", "bomb", "", None),
    ("/redirect-loop", "feed", "redirect_loop", "loop", None),
    ("/redirect-other-host", "feed", None, "", "other_host"),
    ("/404", "feed", "not_found", "404", None),
    ("/410", "feed", "gone", "410", "paused"),
    ("/429", "feed", None, "", "waited"),
    ("/429-long", "feed", "rate_limited", "slow down", "retry_after"),
    ("/flapping", "feed", None, "", None),
    ("/500", "feed", "server_error", "500", None),
    ("/invalid-xml", "feed", "invalid_xml", "invalid XML", None),
    ("/enc-feed", "feed", None, "", "encoding_feed"),
    ("/enc-page", "page", None, "", "encoding_page"),
    ("/html-not-feed", "feed", "not_a_feed", "HTML page where a feed was expected", None),
    ("/empty", "feed", "empty", "empty", None),
    ("/reset", "feed", "connection", "", None),
    ("/dup-guids", "feed", None, "", "dup_guids"),
]


@pytest.mark.parametrize("path,kind,code,words,extra", SCENARIOS, ids=[s[0].split("?")[0] for s in SCENARIOS])
def test_a_misbehaving_source_is_reported_and_harms_nothing(ws, path, kind, code, words, extra):
    from alliance_digest.db.models import Article
    from alliance_digest.source_check import check_sources

    profile = load(ws)
    before = store_earlier(profile)
    with FaultyServer(hosts=2) as srv:
        srv.routes["/enc-feed"] = wrong_encoding_feed
        srv.routes["/enc-page"] = wrong_encoding_page
        bad = make_source(srv.url(path), "Faulty", kind=kind)
        good = make_source(srv.url("/feed?items=4", host=1), "Good")
        begin = time.monotonic()
        report = check_sources(profile, [bad, good])
        elapsed = time.monotonic() - begin

        assert elapsed < 8, f"{path} took {elapsed:.1f} s"
        good_outcome, bad_outcome = report.by_url(good.url), report.outcomes[0]
        assert not good_outcome.failed and good_outcome.new + good_outcome.duplicate == 4
        assert reload(good).last_success_at is not None and good.consecutive_failures == 0
        assert unchanged(before), "an article stored before the run changed"
        bad = reload(bad)
        assert bad.last_attempt_at is not None
        if code is None:
            assert not bad_outcome.failed, bad_outcome.line()
            assert bad.consecutive_failures == 0 and bad.last_error == "" and bad.last_success_at is not None
        else:
            assert bad_outcome.failed and bad_outcome.error_code == code, bad_outcome.line()
            assert bad.last_error_code == code and bad.consecutive_failures == 1
            assert words.lower() in bad.last_error.lower(), bad.last_error
            assert "\n" not in bad.last_error and bad.etag == "" and bad.last_success_at is None

        if extra == "paused":  # 410 pauses at once
            assert bad.paused_at is not None and "410" in bad.paused_reason and bad_outcome.paused
        elif code is not None:
            assert bad.paused_at is None
        if extra == "retry_after":  # a Retry-After longer than the run is honoured at the next check
            assert bad.next_check_at >= bad.last_attempt_at + timedelta(seconds=3600)
        if extra == "waited":  # Retry-After: 1 was waited for within the run
            hits = srv.hits("/429")
            assert len(hits) == 2 and hits[1].start - hits[0].end >= 0.9
        if extra == "other_host":
            assert srv.hits("/feed", host_key=srv.host_keys[1]) and bad.url == srv.url(path)  # 302: URL kept
        if extra == "encoding_feed":
            assert Article.objects.get(url="https://enc.example/1").title == "日米防衛相会談 — Café talks in Zürich"
        if extra == "encoding_page":
            assert Article.objects.filter(title="日米同盟 — Café summit in Tokyo", text__contains="日米同盟の強化").exists()
        if extra == "dup_guids":  # stored once per article; a changed second version overwrites nothing
            first = snapshot(Article.objects.filter(url__startswith="https://news.example.org/dup/")
                             | Article.objects.filter(url="https://news.example.org/unique"))
            assert len(first) == 3 and all("request 1" in row[3] or "Version 1" in row[2] for row in first.values())
            again = check_sources(profile, [reload(bad)])
            assert not again.outcomes[0].failed and again.outcomes[0].new == 0
            assert unchanged(first) and Article.objects.filter(url__contains="/dup/").count() == 2


def test_politeness_conditional_requests_and_per_host_limit(ws):
    from alliance_digest.source_check import check_sources

    configure(ws, per_host_concurrency=2)
    profile = load(ws)
    with FaultyServer(hosts=2) as srv:
        made = [make_source(srv.url(f"/feed?items=2&n={i}&hold=0.3", host=i % 2), f"Feed {i}") for i in range(8)]
        first = check_sources(profile, made)
        assert all(o.result == "new" or o.result == "duplicate" for o in first.outcomes)
        assert all(srv.max_concurrent(key) == 2 for key in srv.host_keys)  # used, never exceeded
        assert all(reload(s).etag == '"feed-v1"' and s.last_modified for s in made)
        srv.reset()
        second = check_sources(profile, [reload(s) for s in made])
        assert [o.result for o in second.outcomes] == ["not modified"] * 8
        hits = srv.hits("/feed")
        assert len(hits) == 8 and all(h.headers.get("if-none-match") == '"feed-v1"' for h in hits)
        assert all(h.headers.get("if-modified-since") for h in hits)
        assert all(reload(s).last_status == 304 and s.consecutive_failures == 0 for s in made)
        assert all(srv.max_concurrent(key) <= 2 for key in srv.host_keys)
        assert "AllianceDigest" in hits[0].headers["user-agent"]


def test_failures_pause_after_the_limit_and_resume_clears(ws, cli):
    from alliance_digest.source_check import check_sources, due_sources

    profile = load(ws)
    with FaultyServer() as srv:
        source = make_source(srv.url("/404"), "Missing")
        for attempt in (1, 2):
            check_sources(profile, [reload(source)])
            assert reload(source).consecutive_failures == attempt and source.paused_at is None
        report = check_sources(profile, [reload(source)])
        source = reload(source)
        assert report.outcomes[0].paused and source.paused_at is not None
        assert source.paused_reason.startswith("paused after 3 failures in a row") and "404" in source.paused_reason
        assert source not in due_sources()
        listing = cli(ws, "sources", "list").output
        assert re.search(r"Missing\s+feed\s+paused\s+never\s+3\s+paused after 3 failures", listing)
        result = cli(ws, "sources", "resume", source.url)
        assert result.exit_code == 0 and "failure count cleared" in result.output
        source = reload(source)
        assert source.paused_at is None and source.consecutive_failures == 0 and source in due_sources(due_only=True)


def test_adaptive_schedule_within_bounds(ws):
    from alliance_digest.source_check import check_sources, due_sources

    profile = load(ws)
    now = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    with FaultyServer() as srv:
        busy = make_source(srv.url("/feed?items=2"), "Busy", interval_minutes=120)
        quiet = make_source(srv.url("/feed?items=2&etag=q"), "Quiet", interval_minutes=1000)
        failing = make_source(srv.url("/500"), "Failing", interval_minutes=60)
        check_sources(profile, [busy, quiet, failing], now=now)
        busy, quiet, failing = reload(busy), reload(quiet), reload(failing)
        assert busy.interval_minutes == 60 and busy.next_check_at == now + timedelta(minutes=60)  # new items: halved
        assert quiet.interval_minutes == 1440  # nothing new (duplicates): doubled, capped at the maximum
        assert failing.interval_minutes == 120  # failed: doubled
        assert due_sources(now + timedelta(minutes=61), due_only=True) == [busy]
        for _ in range(3):
            check_sources(profile, [reload(busy)], now=now)
        assert reload(busy).interval_minutes == 480  # quiet now (304s): doubled each time, 120, 240, 480


def test_permanent_redirect_updates_the_url_unless_taken(ws):
    from alliance_digest.source_check import check_sources

    profile = load(ws)
    with FaultyServer() as srv:
        moved = make_source(srv.url("/moved"), "Moved")
        outcome = check_sources(profile, [moved]).outcomes[0]
        assert reload(moved).url == srv.url("/feed") and "URL updated" in outcome.line()
        other = make_source(srv.url("/moved-twice"), "Moved twice")
        outcome = check_sources(profile, [other]).outcomes[0]
        assert not outcome.failed and reload(other).url == srv.url("/moved-twice")
        assert f"source #{moved.id} (Moved) already reads" in outcome.line()


def full_text_feed(srv):
    def route(query):
        items = "".join(
            f"<item><title>Story {name}</title><link>{srv.url(path)}</link><guid>{srv.url(path)}</guid>"
            f"<description>Feed summary of {name}.</description></item>"
            for name, path in (("page", "/page?title=Ministers+meet"), ("private", "/private/page"),
                               ("missing", "/404?x=1")))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>FT</title>'
                f"<link>{srv.url('/')}</link><description>d</description>{items}</channel></rss>").encode()
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8"}, body
    return route


def test_full_text_fetches_new_items_pages_and_keeps_feed_text_when_a_page_fails(ws):
    from alliance_digest.db.models import Article
    from alliance_digest.source_check import check_sources

    profile = load(ws)
    with FaultyServer() as srv:
        srv.routes["/ft-feed"] = full_text_feed(srv)
        source = make_source(srv.url("/ft-feed"), "Full text", full_text=True)
        outcome = check_sources(profile, [source]).outcomes[0]
        assert outcome.new == 3 and outcome.full_text == 1 and outcome.full_text_failed == 2, outcome.line()
        page = Article.objects.get(url=srv.url("/page?title=Ministers+meet"))
        assert "closer defence cooperation" in page.text and page.title == "Story page"  # the feed's title stays
        for path in ("/private/page", "/404?x=1"):
            kept = Article.objects.get(url=srv.url(path))
            assert kept.text == "" and kept.summary.startswith("Feed summary")
        assert srv.hits("/robots.txt") and not srv.hits("/private/page")  # robots.txt respected
        srv.reset()
        again = check_sources(profile, [reload(source)]).outcomes[0]
        assert again.new == 0 and not srv.hits("/page")  # pages only for new items


# ------------------------------------------------------------------------------------------ the CLI ---

def test_cli_refuses_loopback_unless_the_profile_allows_it(home, cli):
    configure(home, allow_private_addresses=False)
    result = cli(home, "sources", "add", "http://127.0.0.1:9/feed")
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "loopback" in result.stderr
    assert cli(home, "sources", "add", "http://169.254.169.254/latest").exit_code != 0
    configure(home, allow_private_addresses=True)
    result = cli(home, "sources", "add", "http://127.0.0.1:9/feed", "--name", "Local", "--authority", "0.9")
    assert result.exit_code == 0 and "added source #" in result.output
    again = cli(home, "sources", "add", "http://127.0.0.1:9/feed")
    assert again.exit_code != 0 and "already a source" in again.stderr


def test_cli_adds_a_source_whose_host_does_not_resolve_now_with_a_note(home, cli, tmp_path):
    """An offline machine (or a typo) must not make registering a source impossible; reading it later says why."""
    configure(home, allow_private_addresses=False)
    result = cli(home, "sources", "add", "https://feeds.example.invalid/rss", "--name", "Offline Outlet")
    assert result.exit_code == 0, result.output + result.stderr
    assert "added source #" in result.output
    assert "cannot resolve host 'feeds.example.invalid'" in result.stderr and "checked each time" in result.stderr
    for malformed in ("https://a..b/feed", "https://exa mple.com/feed", f"https://{'x' * 70}.example/feed",
                      "https://256.1.1.1/feed", "https://ab.123/x", "https://xn--zz.example/feed"):
        refused = cli(home, "sources", "add", malformed)  # a typo of form is not "offline": refused now
        assert refused.exit_code != 0 and "is not a valid host name" in refused.stderr, malformed
    # the same address spelled otherwise (capitals, IDNA) is the same source
    assert cli(home, "sources", "add", "https://bücher.example.invalid/feed").exit_code == 0
    for spelling in ("https://FEEDS.example.invalid/rss", "https://xn--bcher-kva.example.invalid/feed"):
        twice = cli(home, "sources", "add", spelling)
        assert twice.exit_code != 0 and "is already a source" in twice.stderr, spelling
    checked = cli(home, "sources", "check", "https://feeds.example.invalid/rss")
    assert checked.exit_code != 0 and "Offline Outlet" in checked.output + checked.stderr
    opml = tmp_path / "feeds.opml"
    opml.write_text('<opml version="2.0"><body><outline text="Elsewhere" type="rss" '
                    'xmlUrl="https://other.example.invalid/feed"/></body></opml>')
    imported = cli(home, "sources", "import-opml", str(opml))
    assert imported.exit_code == 0 and "imported 1 source(s); 0 outline(s) skipped" in imported.output
    assert "outline 1 ('Elsewhere'): cannot resolve host" in imported.stderr


def test_cli_check_list_remove_and_exit_status(ws, cli):
    from alliance_digest.db.models import Article, Source

    with FaultyServer() as srv:
        assert cli(ws, "sources", "add", srv.url("/feed"), "--name", "Good feed").exit_code == 0
        assert cli(ws, "sources", "add", srv.url("/html-not-feed"), "--name", "Not a feed").exit_code == 0
        result = cli(ws, "sources", "check")
        assert result.exit_code == 0
        assert "Good feed: 3 new, 0 duplicate" in result.output
        assert "Not a feed: error: an HTML page where a feed was expected" in result.output
        listing = cli(ws, "sources", "list").output
        assert re.search(r"Good feed\s+feed\s+ok\s+\d{4}-", listing)
        assert re.search(r"Not a feed\s+feed\s+failing\s+never\s+1\s+an HTML page", listing)
        only_bad = cli(ws, "sources", "check", str(Source.objects.get(name="Not a feed").id))
        assert only_bad.exit_code == 1  # every source checked failed
        assert cli(ws, "sources", "pause", srv.url("/feed")).exit_code == 0
        assert cli(ws, "sources", "check").exit_code == 1  # the paused one is skipped
        removed = cli(ws, "sources", "remove", srv.url("/feed"))
        assert removed.exit_code == 0 and "kept" in removed.output
        assert Source.objects.count() == 1 and Article.objects.count() == 3
        missing = cli(ws, "sources", "remove", "99")
        assert missing.exit_code != 0 and "no such source" in missing.stderr


def test_profile_sources_are_seeded_once_and_editor_changes_survive(home, cli):
    from alliance_digest.db.models import Source

    configure(home)
    with open(home / "digest.toml", "a", encoding="utf-8") as out:
        out.write('\n[[sources]]\nname = "Seeded"\nurl = "https://seeded.example/feed"\nauthority = 0.7\n'
                  'full_text = true\n')
    assert cli(home, "sources", "list").exit_code == 0
    seeded = Source.objects.get(url="https://seeded.example/feed")
    assert seeded.origin == "profile" and seeded.authority == 0.7 and seeded.full_text
    seeded.authority = 0.2
    seeded.save()
    cli(home, "sources", "list")
    assert Source.objects.count() == 1 and reload(seeded).authority == 0.2
    refused = cli(home, "sources", "remove", seeded.url)
    assert refused.exit_code != 0 and "digest.toml" in refused.stderr

    from alliance_digest.sources import with_db_sources

    profile = with_db_sources(load(home))  # ranking sees the editor's authority
    assert profile.authority_for("Seeded", "https://seeded.example/story/1") == 0.2


def test_opml_round_trip_and_bad_input(ws, cli, tmp_path):
    from alliance_digest import workspace
    from alliance_digest.db.models import Source

    cli(ws, "sources", "add", "https://a.example/feed", "--name", "Alpha", "--authority", "0.8", "--full-text")
    cli(ws, "sources", "add", "https://b.example/story", "--name", "Beta & Co", "--kind", "page",
        "--category", "japanese")
    cli(ws, "sources", "pause", "https://b.example/story")
    exported = tmp_path / "sources.opml"
    assert cli(ws, "sources", "export-opml", exported).exit_code == 0
    assert "<title>US-Japan Alliance Digest sources</title>" in exported.read_text("utf-8")  # the profile's title
    fields = ("name", "url", "kind", "authority", "category", "full_text", "enabled", "site")

    def rows():
        return sorted(Source.objects.values_list(*fields))

    original = rows()
    fresh = workspace.init(tmp_path / "fresh")
    configure(fresh)
    result = cli(fresh, "sources", "import-opml", exported)
    assert result.exit_code == 0 and "imported 2 source(s)" in result.output
    assert rows() == original
    again = cli(fresh, "sources", "import-opml", exported)
    assert "imported 0" in again.output and len(again.stderr.strip().splitlines()) == 2
    assert "outline 1 ('Alpha'): https://a.example/feed is already a source" in again.stderr

    mixed = tmp_path / "mixed.opml"
    mixed.write_text('<?xml version="1.0"?><opml version="1.0"><body><outline text="News">'
                     '<outline text="No URL" type="rss"/>'
                     '<outline text="Ftp" type="rss" xmlUrl="ftp://c.example/feed"/>'
                     '<outline text="Gamma" type="rss" xmlUrl="https://c.example/rss" htmlUrl="https://c.example/"/>'
                     "</outline></body></opml>", "utf-8")
    result = cli(fresh, "sources", "import-opml", mixed)
    assert "imported 1 source(s); 2 outline(s) skipped" in result.output
    assert "outline 2 ('No URL'): no xmlUrl" in result.stderr and "outline 3 ('Ftp')" in result.stderr
    gamma = Source.objects.get(url="https://c.example/rss")
    assert gamma.category == "News" and gamma.site == "https://c.example/" and gamma.origin == "opml"

    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline text='x'", "utf-8")
    result = cli(fresh, "sources", "import-opml", broken)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "broken.opml: not valid OPML" in result.stderr
    entity = tmp_path / "entity.opml"  # entities are never expanded (no billion laughs, no file reads)
    entity.write_text('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                      '<opml><body><outline text="&x;" xmlUrl="https://d.example/feed"/></body></opml>', "utf-8")
    result = cli(fresh, "sources", "import-opml", entity)
    assert result.exit_code != 0 and "external entity" in result.stderr
    assert not Source.objects.filter(url="https://d.example/feed").exists()


def test_one_local_file_is_one_source_however_it_is_written(home, cli, tmp_path):
    feed = tmp_path / "feeds" / "wire.xml"
    feed.parent.mkdir()
    feed.write_text("<rss version='2.0'><channel><title>W</title></channel></rss>", "utf-8")
    assert cli(home, "sources", "add", str(feed)).exit_code == 0
    for spelling in (f"file://{feed}", str(tmp_path / "feeds" / "." / "wire.xml")):
        again = cli(home, "sources", "add", spelling)
        assert again.exit_code != 0 and "is already a source" in again.output, spelling
    bad_site = cli(home, "sources", "add", str(tmp_path / "feeds"), "--site", "notaurl")
    assert bad_site.exit_code != 0 and "is not a web address" in bad_site.output


def test_another_digest_starts_from_its_own_profile_and_is_told_of_sources_left_by_the_old_one(tmp_path, cli):
    """A new customer's digest must not read the US-Japan feeds: init --profile, and a replaced profile's leftovers."""
    from alliance_digest.db.models import Source

    arctic = tmp_path / "arctic.toml"
    arctic.write_text('[digest]\ntitle = "Arctic Affairs Digest"\n[topic]\nterms = {"sea ice" = 2.0}\n'
                      '[[sources]]\nname = "Polar Wire"\nurl = "https://polar.example/feed"\n', "utf-8")
    home = tmp_path / "arctic-ws"
    made = cli(None, "init", str(home), "--profile", str(arctic))
    assert made.exit_code == 0 and "1 source(s) from the profile registered" in made.output, made.output
    assert list(Source.objects.values_list("name", flat=True)) == ["Polar Wire"]
    assert "Arctic Affairs Digest" in (home / "digest.toml").read_text("utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('[digest]\ntitle = "X"\n[topic]\nthreshold = 0.3\n', "utf-8")
    refused = cli(None, "init", str(tmp_path / "never"), "--profile", str(bad))
    assert refused.exit_code != 0 and "nothing could be found relevant" in refused.output
    assert not (tmp_path / "never").exists()

    # a workspace made with the default profile, whose profile is then replaced by another digest's
    other = tmp_path / "replaced"
    assert cli(None, "init", str(other)).exit_code == 0
    (other / "digest.toml").write_text(arctic.read_text("utf-8"), "utf-8")
    listed = cli(other, "sources", "list")
    assert "note: 16 source(s) came from an earlier digest.toml and are no longer in it" in listed.stderr
    pruned = cli(other, "sources", "remove", "--left-by-profile")
    assert pruned.exit_code == 0 and pruned.output.count("removed source") == 16
    assert list(Source.objects.values_list("name", flat=True)) == ["Polar Wire"]
    assert "note:" not in cli(other, "sources", "list").stderr
