"""Ingest into a real workspace: stored once, idempotent, bad inputs never abort the rest."""

from __future__ import annotations

import json

from conftest import write

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbor Times</title><link>https://harbor.example/</link>
<description>x</description>
<item><title>US and Japan sign alliance pact in Tokyo</title>
<link>https://harbor.example/pact?utm_source=rss</link><guid isPermaLink="false">harbor-pact-000000000001</guid>
<description>The United States and Japan signed a defense alliance pact in Tokyo.</description>
<pubDate>Wed, 28 Oct 2026 10:00:00 GMT</pubDate></item>
<item><title>Local bakery wins prize</title><link>https://harbor.example/bakery</link>
<description>A bakery won a prize.</description><pubDate>Wed, 28 Oct 2026 11:00:00 GMT</pubDate></item>
</channel></rss>"""

PAGE = """<!DOCTYPE html><html><head><title>US and Japan sign alliance pact in Tokyo | Harbor Times</title>
<meta property="og:title" content="US and Japan sign alliance pact in Tokyo">
<meta property="og:url" content="https://harbor.example/pact">
<meta property="og:site_name" content="Harbor Times">
<meta property="og:image" content="https://harbor.example/pact.jpg">
<meta property="article:published_time" content="2026-10-28T10:00:00Z">
<meta name="author" content="Kei Tanaka"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a></nav><article><h1>US and Japan sign alliance pact in Tokyo</h1>
<p>The United States and Japan signed a defense alliance pact in Tokyo on Wednesday, officials said.</p>
<p>The pact commits both governments to joint planning for regional crises and to new exercises.</p>
<p>Ministers from both countries called the agreement a milestone for the alliance.</p></article>
<footer>Copyright Harbor Times</footer></body></html>"""


def _articles():
    from alliance_digest.db.models import Article

    return {a.canonical_url: a for a in Article.objects.all()}


def test_reingest_is_idempotent_and_page_enriches_feed_item(home, cli, tmp_path):
    feed = write(tmp_path / "in" / "harbor.xml", FEED)
    page = write(tmp_path / "in" / "pact.html", PAGE)
    first = cli(home, "ingest", feed)
    assert first.exit_code == 0 and "2 new, 0 duplicate, 0 failed" in first.output
    again = cli(home, "ingest", feed)
    assert "0 new, 2 duplicate" in again.output
    stored = _articles()
    assert len(stored) == 2
    pact = stored["https://harbor.example/pact"]
    assert pact.text == "" and pact.summary.startswith("The United States and Japan signed")
    # the full page of the same article adds its text without creating a second row
    enriched = cli(home, "ingest", page)
    assert "0 new, 1 duplicate (1 with new details)" in enriched.output
    stored = _articles()
    assert len(stored) == 2
    pact = stored["https://harbor.example/pact"]
    assert "joint planning" in pact.text and pact.author == "Kei Tanaka"
    assert pact.title == "US and Japan sign alliance pact in Tokyo"  # kept, not overwritten
    assert pact.relevance > stored["https://harbor.example/bakery"].relevance


def test_same_content_under_another_url_is_stored_once(home, cli, tmp_path):
    body = "Identical body text of a syndicated report, word for word the same on both sites."
    lines = [{"url": "https://a.example/x", "title": "Same story", "text": body},
             {"url": "https://b.example/y", "title": "Same story", "text": body}]
    path = write(tmp_path / "dup.jsonl", "\n".join(json.dumps(l) for l in lines))
    result = cli(home, "ingest", path)
    assert "1 new, 1 duplicate" in result.output
    assert len(_articles()) == 1


def test_bad_inputs_are_reported_and_the_rest_is_ingested(home, cli, tmp_path):
    good = write(tmp_path / "harbor.xml", FEED)
    broken = write(tmp_path / "broken.xml", "<?xml version='1.0'?><rss><channel><item><title>x</tit")
    jsonl = write(tmp_path / "items.jsonl", '{"url": "https://c.example/1", "title": "C"}\n{bad json}\n')
    result = cli(home, "ingest", broken, tmp_path / "missing.xml", good, jsonl)
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert any(l.startswith("error: ") and "broken.xml: malformed feed" in l for l in lines)
    assert any(l.startswith("error: ") and "missing.xml: file not found" in l for l in lines)
    assert any("items.jsonl line 2: invalid JSON" in l for l in lines)
    assert lines[-1] == "ingested 4 input(s): 3 new, 0 duplicate, 3 failed"


def test_exit_status_is_nonzero_only_when_nothing_could_be_processed(home, cli, tmp_path):
    result = cli(home, "ingest", tmp_path / "missing.xml")
    assert result.exit_code == 1 and "0 new, 0 duplicate, 1 failed" in result.output


def test_nothing_stored_is_lost_or_changed_by_a_failing_run(home, cli, tmp_path):
    good = write(tmp_path / "harbor.xml", FEED)
    cli(home, "ingest", good)
    before = {url: (a.title, a.summary, a.published) for url, a in _articles().items()}
    broken = write(tmp_path / "harbor2.xml", FEED.replace("</channel></rss>", "<item><title>x"))
    cli(home, "ingest", broken, tmp_path / "nope.html")
    after = {url: (a.title, a.summary, a.published) for url, a in _articles().items()}
    assert after == before


def test_workspace_is_sqlite_in_wal_mode(home):
    import sqlite3

    conn = sqlite3.connect(home / "digest.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_commands_outside_a_workspace_say_so(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("DIGEST_HOME", raising=False)
    result = cli(tmp_path / "nowhere", "ingest", "x.xml")
    assert result.exit_code != 0 and "not a digest workspace" in result.output


def test_articles_lists_scores_with_their_reasons(home, cli, tmp_path):
    cli(home, "ingest", write(tmp_path / "harbor.xml", FEED))
    out = cli(home, "articles", "--explain").output.splitlines()
    assert out[0].split()[-1] == "Tokyo" and "US and Japan sign alliance pact" in out[0]
    assert "entities: Japan" in out[1] and "United States" in out[1]
    assert any("terms:" in l and "alliance" in l for l in out)
    assert "Local bakery" in out[-1]


def test_init_refuses_to_overwrite_a_workspace(home, cli):
    result = cli(None, "init", home)
    assert result.exit_code == 1 and "already a workspace" in result.output


def test_an_outlets_own_item_replaces_a_copy_stored_first_under_its_url(home, cli, tmp_path):
    """A newsletter listing a State Department URL with its own words must not speak for the Department."""
    import json

    from alliance_digest.db.models import Article

    url = "https://www.state.gov/secretary-meets-japanese-foreign-minister/"
    copy = {"url": url, "title": "State Dept says US will withdraw all forces from Japan",
            "summary": "The United States will withdraw all forces from Japan, a blog claims.",
            "published": "2026-11-03T09:00:00Z", "source": "Random Blog"}
    own = {"url": url, "title": "Secretary Meets Japanese Foreign Minister",
           "summary": "The Secretary met Japan's Foreign Minister in Washington to discuss the alliance.",
           "published": "2026-11-03T10:00:00Z", "source": "U.S. Department of State"}
    def write(name, row):
        (tmp_path / name).write_text(json.dumps(row) + "\n", "utf-8")
        return tmp_path / name

    assert cli(home, "ingest", write("copy.jsonl", copy)).exit_code == 0
    # an item naming itself after the outlet proves nothing: only the input's registered source does
    spoof = cli(home, "ingest", write("spoof.jsonl", {**own, "title": "FORGED"}))
    assert "replaced" not in spoof.output and Article.objects.get().title == copy["title"]
    result = cli(home, "ingest", write("own.jsonl", own), "--source", "U.S. Department of State")
    assert result.exit_code == 0 and "1 copies replaced by their own outlet's item" in result.output, result.output
    article = Article.objects.get()
    assert (article.title, article.source) == (own["title"], "U.S. Department of State")
    assert "withdraw" not in article.summary and article.relevance_version
    # the other way round nothing changes: a copy never replaces the outlet's own item
    again = cli(home, "ingest", write("copy2.jsonl", {**copy, "title": "Another blog title"}), "--source", "Random Blog")
    assert "replaced" not in again.output and Article.objects.get().title == own["title"]
