"""Odd input found in the wild never stops a run: each bad row, item or page is one named line, the rest is read.

(CMS placeholder dates such as 9999-12-31, broken IPv6 links, JSON values of the wrong type, lone
surrogates, vague dates, and different live-blog posts that share a one-line teaser.)
"""

from __future__ import annotations

import json

import pytest

from conftest import write

GOOD = {"url": "https://good.example/japan-us-talks", "title": "Japan and US hold talks on shipbuilding",
        "summary": "Officials from Tokyo and Washington met on Tuesday.", "published": "2026-11-03T09:00:00Z"}


def _feed(items: str) -> str:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>
{items}
<item><title>Tokyo and Washington agree chip pact</title><link>https://wire.example/chips</link>
<pubDate>Tue, 03 Nov 2026 10:00:00 GMT</pubDate></item>
</channel></rss>"""


@pytest.mark.parametrize("row, problem", [
    ({"author": {"n": 1}}, "field 'author' must be text, not object"),
    ({"summary": ["a"]}, "field 'summary' must be text, not list"),
    ({"url": "http://[::1"}, "is not a valid address"),
    ({"url": "https://"}, "has no host"),
    ({"published": "9999-12-31T23:59:59-05:00"}, "out of range"),
    ({"published": "0001-01-01T00:00:00+05:00"}, "cannot be placed in time"),
    ({"published": "2025-05-20T10:00:00+99:00"}, "cannot be placed in time"),
    ({"published": "May"}, "incomplete date"),
    ({"published": "2025"}, "incomplete date"),
])
def test_a_bad_jsonl_row_is_one_line_and_the_run_goes_on(home, cli, tmp_path, row, problem):
    bad = {**GOOD, "url": "https://bad.example/1", **row}
    rows = [bad, GOOD]
    first = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    second = write(tmp_path / "feed.xml", _feed(""))
    result = cli(home, "ingest", first, second)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "a.jsonl line 1" in line]
    assert len(lines) == 1 and problem in lines[0], result.output
    assert "Traceback" not in result.output
    assert "2 new" in result.output  # the good row and the next input's item are stored


def test_odd_values_that_are_still_usable_are_kept(home, cli, tmp_path):
    rows = [{**GOOD, "guid": 12345, "title": "Japan \ud800 and US hold talks", "published": None,
             "pubDate": "Tue, 03 Nov 2026 09:00:00 GMT"}]
    result = cli(home, "ingest", write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert result.exit_code == 0 and "1 new" in result.output, result.output
    from alliance_digest.db.models import Article

    article = Article.objects.get()
    assert article.guid == "12345" and article.title == "Japan \ufffd and US hold talks"
    assert article.published.isoformat() == "2026-11-03T09:00:00+00:00"  # RSS's name for the date is read too


def test_a_bad_feed_item_is_skipped_and_a_placeholder_date_is_dropped(home, cli, tmp_path):
    items = """<item><title>Broken link</title><link>http://[::1</link></item>
<item><title>Dated by a placeholder</title><link>https://wire.example/placeholder</link>
<pubDate>Fri, 31 Dec 9999 23:59:59 -0500</pubDate></item>"""
    result = cli(home, "ingest", write(tmp_path / "feed.xml", _feed(items)))
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "feed.xml item 1" in result.output and "is not a valid address" in result.output
    assert "feed.xml item 2" in result.output and "kept without a date" in result.output
    from alliance_digest.db.models import Article

    assert Article.objects.get(url="https://wire.example/placeholder").published is None
    assert Article.objects.count() == 2


def test_a_page_with_unusable_metadata_is_still_read(home, cli, tmp_path):
    body = "<p>" + "Japan and the United States agreed on a shipbuilding pact in Tokyo on Tuesday. " * 8 + "</p>"
    page = f"""<html><head><title>Shipbuilding pact</title><meta property="og:url" content="http://[::1">
<meta property="article:published_time" content="9999-12-31T23:59:59-05:00"></head>
<body><article><h1>Shipbuilding pact</h1>{body}</article></body></html>"""
    result = cli(home, "ingest", write(tmp_path / "page.html", page))
    assert result.exit_code == 0 and "1 new" in result.output, result.output


def test_different_posts_sharing_a_one_line_teaser_are_both_kept(home, cli, tmp_path):
    """Two live blogs, "Here's the latest.", months apart: equal short text is not the same article."""
    rows = [{"url": "https://news.example/2025/05/08/live/heres-the-latest", "title": "Here's the latest",
             "summary": "Here's the latest.", "published": "2025-05-08T10:00:00Z"},
            {"url": "https://news.example/2025/08/06/live/heres-the-latest", "title": "Here's the latest",
             "summary": "Here's the latest.", "published": "2025-08-06T10:00:00Z"},
            {**GOOD, "summary": GOOD["summary"] + " They agreed to meet again in Washington next spring."},
            {**GOOD, "url": "https://good.example/amp/japan-us-talks",
             "summary": GOOD["summary"] + " They agreed to meet again in Washington next spring."}]
    result = cli(home, "ingest", write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert "3 new, 1 duplicate" in result.output, result.output  # the AMP copy of a real article is one


def test_a_reader_that_fails_unexpectedly_costs_one_source_not_the_check(home, cli, tmp_path, monkeypatch):
    from alliance_digest.pipeline import read

    good = write(tmp_path / "feed.xml", _feed(""))
    bad = write(tmp_path / "odd.jsonl", json.dumps(GOOD) + "\n")
    assert cli(home, "sources", "add", str(bad), "--kind", "jsonl").exit_code == 0
    assert cli(home, "sources", "add", str(good)).exit_code == 0

    def broken(*args, **kwargs):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(read, "parse_jsonl", broken)
    result = cli(home, "sources", "check")
    assert "Traceback" not in result.output
    assert "could not be read: RuntimeError: reader bug" in result.output, result.output
    from alliance_digest.db.models import Article

    assert Article.objects.filter(url="https://wire.example/chips").exists()  # the good feed was still read


def test_inputs_that_are_not_files_of_articles_say_what_they_are(home, cli, tmp_path):
    import gzip

    (tmp_path / "empty").mkdir()
    packed = tmp_path / "items.jsonl.gz"
    packed.write_bytes(gzip.compress((json.dumps(GOOD) + "\n").encode()))
    cases = [(tmp_path / "empty", "holds no feed, page or JSONL files"),
             ("ftp://files.example/feed.xml", "ftp:// addresses are not read"),
             (packed, "a gzip-compressed file: decompress it first"),
             ("/dev/zero", "not a regular file")]
    for location, message in cases:
        result = cli(home, "ingest", location)
        assert result.exit_code == 1 and message in result.output, (location, result.output)


def test_a_file_of_the_wrong_kind_says_so_in_a_few_lines_not_hundreds(home, cli, tmp_path):
    lines = [json.dumps({"title": f"no url {k}"}) for k in range(200)]
    result = cli(home, "ingest", write(tmp_path / "many.jsonl", "\n".join(lines)))
    shown = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(shown) == 21 and "... and 180 more problem(s) like these; 0 item(s) read" in shown[-1], result.output


def test_control_characters_are_dropped_not_stored(home, cli, tmp_path):
    """A NUL is never content (and PostgreSQL refuses one in text): the item is kept without it."""
    rows = [{**GOOD, "title": "Japan and US\u0000 hold talks", "summary": "Officials\u0007 met.\nOn Tuesday."}]
    result = cli(home, "ingest", write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert result.exit_code == 0 and "1 new" in result.output, result.output
    from alliance_digest.db.models import Article

    article = Article.objects.get()
    assert article.title == "Japan and US hold talks" and article.summary == "Officials met. On Tuesday."


def test_an_item_the_database_refuses_costs_only_itself(home, cli, tmp_path):
    """One refused row must not lose the other items of its input, and the counts must say what was stored."""
    from django.db import connection

    from alliance_digest.db.models import Article

    with connection.cursor() as cursor:  # a real refusal by the database, for one title
        cursor.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON digest_article "
                       "WHEN NEW.title LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused by a rule'); END")
    rows = [{**GOOD, "url": f"https://good.example/{k}", "title": f"Japan and US talks, day {k}"} for k in range(5)]
    rows.insert(2, {**GOOD, "url": "https://bad.example/p", "title": "A poison pill item"})
    result = cli(home, "ingest", write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    assert result.exit_code == 0, result.output
    assert "5 new" in result.output and "1 failed" in result.output, result.output
    refused = [line for line in result.output.splitlines() if "https://bad.example/p" in line]
    assert len(refused) == 1 and "refused by a rule" in refused[0], result.output
    assert Article.objects.count() == 5


def test_a_large_jsonl_backfill_is_read_where_other_files_are_capped(home, cli, tmp_path, monkeypatch):
    """A year of articles in one JSONL file is a normal backfill; past its own cap, the error says what to do."""
    from alliance_digest.pipeline import fetch

    monkeypatch.setattr(fetch, "MAX_BYTES", 2_000)  # the limits, scaled down to keep the test small
    monkeypatch.setattr(fetch, "MAX_JSONL_BYTES", 20_000)
    rows = [{**GOOD, "url": f"https://good.example/{k}", "title": f"Japan and US talks, round {k}"} for k in range(40)]
    backfill = write(tmp_path / "year.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    assert 2_000 < backfill.stat().st_size < 20_000
    result = cli(home, "ingest", backfill)
    assert result.exit_code == 0 and "40 new" in result.output, result.output
    feed = write(tmp_path / "big.xml", _feed("<item><title>x</title></item>" * 100))
    refused = cli(home, "ingest", feed)
    assert "file too large" in refused.output and "split" not in refused.output
    huge = write(tmp_path / "huge.jsonl", "\n".join(json.dumps(r) for r in rows * 6) + "\n")
    refused = cli(home, "ingest", huge)
    assert "file too large" in refused.output and "split -l 50000 huge.jsonl part-" in refused.output


def test_a_failing_database_gets_a_few_lines_not_one_per_article(home, cli, tmp_path):
    """A full disk refuses every row: the ingest stops asking after a few, and says so in a few lines."""
    from django.db import connection

    from alliance_digest.db.models import Article

    with connection.cursor() as cursor:
        cursor.execute("CREATE TRIGGER refuse_all BEFORE INSERT ON digest_article "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    rows = [{**GOOD, "url": f"https://good.example/{k}", "title": f"Japan and US talks, day {k}"} for k in range(300)]
    result = cli(home, "ingest", write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in rows)))
    lines = [line for line in result.output.splitlines() if "not stored" in line]
    assert 1 <= len(lines) <= 11 and "290 more article(s) not stored: database or disk is full" in result.output
    assert "0 new" in result.output and "300 failed" in result.output, result.output
    assert Article.objects.count() == 0


@pytest.mark.skipif(not hasattr(__import__("os"), "setpgid"), reason="POSIX ulimit")
def test_a_full_disk_while_drafting_is_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    digest = Path(sys.executable).with_name("digest")
    done = subprocess.run(["bash", "-c", f"ulimit -f 20; '{digest}' --home '{home}' draft --replace "
                                         "--start 2026-10-26 --end 2026-11-08"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: the database refused the change: disk I/O error (the change in progress was not saved; "
        "run the command again once that is fixed)"]
