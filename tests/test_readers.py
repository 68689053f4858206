"""Feeds, pages and JSONL into records; bad input reported, never fatal to the rest."""

from __future__ import annotations

import json

from alliance_digest.pipeline.feeds import parse_feed
from alliance_digest.pipeline.jsonl import parse_jsonl
from alliance_digest.pipeline.read import read_input

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old Feed</title>
<link>https://old.example/</link><description>d</description>
<item><title>Tokyo and Washington agree</title><link>https://old.example/a</link>
<description>Both sides agreed.</description></item></channel></rss>"""

RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example/"><title>RDF Outlet</title><link>https://rdf.example/</link>
<description>x</description></channel>
<item rdf:about="https://rdf.example/b"><title>Envoy named</title><link>https://rdf.example/b</link>
<description>An envoy was named.</description><dc:date>2026-10-28T09:00:00+09:00</dc:date>
<dc:creator>A. Writer</dc:creator></item></rdf:RDF>"""

RSS20 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Two Outlet</title>
<link>https://two.example/</link><description>x</description>
<item><title>Ministers meet</title><link>https://two.example/c?utm_source=rss</link>
<guid isPermaLink="false">two-c-0001-unique-guid</guid>
<description>&lt;p&gt;Ministers &lt;b&gt;met&lt;/b&gt; in Tokyo.&lt;/p&gt;</description>
<pubDate>Wed, 28 Oct 2026 10:00:00 GMT</pubDate>
<media:content url="https://two.example/img.jpg" medium="image"/></item>
<item><title>No link here</title><description>orphan</description></item>
<item><title>Bad date</title><link>https://two.example/d</link><pubDate>someday</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Outlet</title><id>urn:x</id>
<updated>2026-10-28T00:00:00Z</updated>
<entry><title>Drill held</title><id>tag:atom.example,2026:1</id>
<link rel="alternate" href="https://atom.example/e"/><published>2026-10-29T01:00:00Z</published>
<updated>2026-10-29T01:00:00Z</updated><summary>A drill was held.</summary>
<author><name>B. Writer</name></author></entry></feed>"""


def test_every_feed_dialect_parses_with_title_link_date_and_outlet():
    for raw, outlet, url in [(RSS091, "Old Feed", "https://old.example/a"),
                             (RSS10, "RDF Outlet", "https://rdf.example/b"),
                             (RSS20, "Two Outlet", "https://two.example/c?utm_source=rss"),
                             (ATOM, "Atom Outlet", "https://atom.example/e")]:
        result = parse_feed(raw, "feed.xml")
        assert result.fatal is None
        first = result.articles[0]
        assert first.url == url and first.source == outlet and first.title


def test_rss2_item_details_and_per_item_problems():
    result = parse_feed(RSS20, "two.xml")
    first = result.articles[0]
    assert first.canonical_url == "https://two.example/c"
    assert first.summary == "Ministers met in Tokyo."
    assert first.image == "https://two.example/img.jpg"
    assert first.published.isoformat() == "2026-10-28T10:00:00+00:00"
    messages = [str(p) for p in result.problems]
    assert any("item 2" in m and "no link" in m for m in messages)
    # an unparseable date is reported, and the item is kept without a date
    assert any("item 3" in m and "someday" in m for m in messages)
    assert [a.title for a in result.articles] == ["Ministers meet", "Bad date"]
    assert result.articles[1].published is None


def test_atom_and_rdf_dates_and_authors():
    atom = parse_feed(ATOM, "a.xml").articles[0]
    assert atom.published.isoformat() == "2026-10-29T01:00:00+00:00" and atom.author == "B. Writer"
    rdf = parse_feed(RSS10, "r.xml").articles[0]
    assert rdf.published.isoformat() == "2026-10-28T00:00:00+00:00" and rdf.author == "A. Writer"


def test_malformed_feed_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<?xml version='1.0'?><rss><channel><title>x</title><item><title>oops</titl")
    result = read_input(str(bad))
    assert result.articles == [] and result.fatal is not None
    assert "broken.xml" in str(result.fatal) and "malformed feed" in str(result.fatal)


def test_jsonl_bad_lines_are_reported_with_their_numbers_and_the_rest_kept():
    lines = [
        {"url": "https://j.example/1", "title": "One", "summary": "s", "published": "2026-10-28T00:00:00Z"},
        "not json at all",
        {"title": "no url"},
        {"url": "https://j.example/4", "title": "Four", "published": "the day after"},
        {"url": "https://j.example/5", "title": "Five", "text": "Body.", "published": "Wed, 28 Oct 2026 10:00:00 GMT",
         "source": "Jay", "image": "https://j.example/5.jpg"},
    ]
    raw = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines).encode()
    result = parse_jsonl(raw, "items.jsonl")
    assert [a.title for a in result.articles] == ["One", "Five"]
    problems = [str(p) for p in result.problems]
    assert problems[0].startswith("items.jsonl line 2: invalid JSON")
    assert problems[1] == "items.jsonl line 3: missing required field 'url'; skipped"
    assert problems[2].startswith("items.jsonl line 4: unparseable date 'the day after'")
    five = result.articles[1]
    assert (five.source, five.text, five.image) == ("Jay", "Body.", "https://j.example/5.jpg")


def test_jsonl_html_field_is_extracted():
    html = ("<html><head><title>T</title></head><body><nav>Menu Home About</nav><article><h1>T</h1>"
            + "<p>The alliance agreed on a new plan for the region this week, officials said.</p>" * 6
            + "</article><footer>Copyright</footer></body></html>")
    raw = json.dumps({"url": "https://j.example/h", "title": "T", "html": html}).encode()
    article = parse_jsonl(raw, "h.jsonl").articles[0]
    assert "The alliance agreed" in article.text and "Menu Home" not in article.text


def test_missing_file_and_non_html_inputs_are_clear(tmp_path):
    assert str(read_input(str(tmp_path / "nope.xml")).fatal).endswith("nope.xml: file not found")
    blob = tmp_path / "data.bin"
    blob.write_bytes(b"\x00\x01\x02 binary")
    assert "not a feed, HTML page or JSONL file" in str(read_input(str(blob)).fatal)
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    assert str(read_input(str(empty)).fatal).endswith("empty input")


def test_file_urls_behave_like_paths(tmp_path):
    feed = tmp_path / "feed with space.xml"
    feed.write_bytes(ATOM)
    via_path = read_input(str(feed)).articles
    via_url = read_input(feed.as_uri()).articles
    assert [a.url for a in via_path] == [a.url for a in via_url] == ["https://atom.example/e"]


FT_LIKE = ('<img src="https://img.example/pay.jpg?fit=scale&amp;width=900" />Sale of shares could value the '
           'payments company above $10bn<br /><a href="https://news.example/markets">Markets</a>')
WORDPRESS = ('<p>Tokyo and Washington agreed on a new fund.</p><p>The post <a href="https://b.example/x">Fund '
             'agreed</a> appeared first on <a href="https://b.example">B News</a>.</p>')


def test_feed_furniture_is_not_read_as_the_teaser():
    """A section label, "Continue reading" or WordPress's footer never runs into the description."""
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://n.example/</link>
    <item><title>PayPay files for US listing</title><link>https://n.example/1</link>
      <description><![CDATA[{FT_LIKE}]]></description></item>
    <item><title>Fund agreed</title><link>https://n.example/2</link>
      <description><![CDATA[{WORDPRESS}]]></description></item>
    <item><title>Talks</title><link>https://n.example/3</link>
      <description><![CDATA[<p>Talks stalled, said <a href="https://n.example/abe">Shinzo Abe</a></p><p><a href="https://n.example/3">Continue reading...</a></p>]]></description></item>
    </channel></rss>""".encode()
    articles = parse_feed(feed, "feed.xml").articles
    assert [a.summary for a in articles] == [
        "Sale of shares could value the payments company above $10bn",
        "Tokyo and Washington agreed on a new fund.",
        "Talks stalled, said Shinzo Abe",  # a link inside the teaser stays
    ]
    assert articles[0].image == "https://img.example/pay.jpg?fit=scale&width=900"
    rows = [{"url": "https://n.example/1", "title": "PayPay files", "summary": FT_LIKE}]
    record = parse_jsonl("\n".join(json.dumps(r) for r in rows).encode(), "items.jsonl").articles[0]
    assert record.summary == articles[0].summary and record.image == articles[0].image


def test_direction_changing_characters_never_reach_a_stored_title():
    """U+202E in a feed title would make the headline display reversed on every page that shows it."""
    rows = [{"url": "https://n.example/1", "title": "Allies\u202e agree\u200b", "summary": "<p>Text\u2066 here</p>"}]
    record = parse_jsonl(json.dumps(rows[0]).encode(), "items.jsonl").articles[0]
    assert (record.title, record.summary) == ("Allies agree", "Text here")


def test_links_inside_the_teaser_are_text_not_furniture():
    from alliance_digest.pipeline.text import description_text

    assert description_text('<p>Japan will send <a href="/x">more than 200 troops</a> to the drills.</p>') == \
        "Japan will send more than 200 troops to the drills."
    assert description_text('<p>The <a href="/x">full story behind the deal</a> emerged.</p>') == \
        "The full story behind the deal emerged."
    assert description_text('<p>Talks stalled. <a href="/x">Read more »</a></p>') == "Talks stalled."
