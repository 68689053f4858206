"""Drafting issues in a workspace (numbering, windows, thin windows) and rendering them."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from conftest import write


def _lines(items):
    return "\n".join(json.dumps(i) for i in items) + "\n"


def _event(n, day, outlet, title, text):
    return {"url": f"https://{outlet}.example/{n}", "title": title, "text": text,
            "published": f"2026-10-{day:02d}T09:00:00Z", "source": outlet.title()}


ALLIANCE = [
    _event(1, 27, "harbor", "US and Japan sign defense alliance pact in Tokyo",
           "The United States and Japan signed a defense alliance pact in Tokyo on Tuesday. "
           "The pact commits Washington and Tokyo to joint planning for regional security crises. "
           "Japanese and American ministers called it the biggest alliance upgrade in a decade. "
           "The agreement also covers $3 billion in joint missile production."),
    _event(2, 27, "coast", "Japan, US agree alliance pact for joint crisis planning",
           "Japan and the United States agreed an alliance pact in Tokyo on Tuesday to plan jointly for regional crises. "
           "Officials in Tokyo said the security pact includes $3 billion of joint missile production. "
           "The defense ministers of both countries signed the document."),
]
NEAR_THE_BAR = [  # names both countries, but in passing: under the bar, though an editor may want it
    _event(5, 30, "harbor", "US health secretary takes on Big Food",
           "The U.S. health secretary wants food labels like those used in Japan, officials in Washington said."),
]
UNRELATED = [
    _event(3, 28, "harbor", "Local bakery wins national bread prize", "A bakery in Ohio won a national prize for its bread. "
           "The owners said they would expand."),
    _event(4, 29, "coast", "Storm brings heavy snow to the Alps", "Heavy snow fell across the Alps on Thursday. "
           "Ski resorts said they would open early."),
]


@pytest.fixture
def ingested(home, cli, tmp_path):
    path = write(tmp_path / "items.jsonl", _lines(ALLIANCE + UNRELATED))
    assert cli(home, "ingest", path).exit_code == 0
    return home


def test_thin_window_holds_fewer_stories_and_says_so(ingested, cli):
    result = cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    assert result.exit_code == 0, result.output
    assert "1 stories" in result.output and "Thin window" in result.output
    data = json.loads(cli(ingested, "render", "latest", "--format", "json").output)
    assert [len(s["articles"]) for s in data["stories"]] == [2]  # both outlets, one story
    assert data["notice"] and "only 1 of the 5" in data["notice"]
    titles = {a["title"] for s in data["stories"] + data["candidates"] for a in s["articles"]}
    assert "Local bakery wins national bread prize" not in titles  # never padded
    md = cli(ingested, "render", "latest").output
    assert "Note to editors" in md


def test_a_thin_window_offers_the_stories_nearest_below_the_bar_marked(home, cli, tmp_path):
    """The editor who must fill a thin issue sees what lies just under the bar, marked, never drafted in."""
    assert cli(home, "ingest", write(tmp_path / "items.jsonl", _lines(ALLIANCE + UNRELATED + NEAR_THE_BAR))).exit_code == 0
    assert cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0
    data = json.loads(cli(home, "render", "latest", "--format", "json").output)
    assert [s["headline"] for s in data["stories"]] != [] and len(data["stories"]) == 1
    near = [c for c in data["candidates"] if c["reasons"].get("below_bar")]
    assert [c["headline"] for c in near] == ["US health secretary takes on Big Food"]
    assert "nearest below the bar are among the candidates" in data["notice"]
    titles = {a["title"] for s in data["stories"] + data["candidates"] for a in s["articles"]}
    assert "Local bakery wins national bread prize" not in titles


def test_issue_numbers_follow_the_last_and_roll_over_volumes(ingested, cli, home):
    profile_path = home / "digest.toml"
    text = profile_path.read_text().replace("start_volume = 1", "start_volume = 2").replace(
        "start_number = 1", "start_number = 25").replace("issues_per_volume = 26", "issues_per_volume = 26")
    profile_path.write_text(text)
    outputs = [cli(home, "draft", "--start", s, "--end", e, "--allow-empty").output for s, e in
               [("2026-10-12", "2026-10-25"), ("2026-10-26", "2026-11-08"), ("2026-11-09", "2026-11-22")]]
    assert [o.split()[2] for o in outputs] == ["2.25", "2.26", "3.1"]
    assert "(Vol: 3.1)" in outputs[2]
    listing = cli(home, "issues").output.splitlines()
    assert listing[0].split()[0] == "3.1"


def test_redrafting_a_window_needs_replace_and_keeps_the_number(ingested, cli):
    cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    again = cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    assert again.exit_code == 1 and "already holds a draft" in again.output and "--replace" in again.output
    # the publisher renames the digest before approving: the redraft carries the profile's new title
    toml = ingested / "digest.toml"
    toml.write_text(toml.read_text("utf-8").replace('title = "US-Japan Alliance Digest"',
                                                    'title = "Pacific Alliance Digest"', 1), "utf-8")
    replaced = cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08", "--replace")
    assert replaced.exit_code == 0 and "issue 1.1" in replaced.output
    assert cli(ingested, "render", "latest").output.startswith("# Pacific Alliance Digest")


def test_default_window_is_the_cadence_ending_today(ingested, cli):
    end = date.today()
    start = date.fromordinal(end.toordinal() - 13)
    empty = cli(ingested, "draft")  # the sample fortnight is long past: no empty issue unless asked for
    assert empty.exit_code == 1 and f"no article was published in {start}..{end}" in empty.output
    result = cli(ingested, "draft", "--allow-empty")
    assert f"for {start}..{end}" in result.output


def test_unknown_issue_and_bad_dates_are_one_clear_line(ingested, cli):
    result = cli(ingested, "render", "9.99")
    assert result.exit_code == 1 and result.output.strip() == "Error: issue 9.99 not found"
    result = cli(ingested, "render", "nonsense")
    assert "is not an issue number" in result.output
    result = cli(ingested, "draft", "--end", "2026-13-45")
    assert result.exit_code == 2 and "'2026-13-45' is not a date" in result.output


def test_json_export_shape(ingested, cli):
    cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    data = json.loads(cli(ingested, "render", "1.1", "--format", "json", "--all").output)
    for key in ("title", "volume", "number", "date", "window", "image", "stories", "candidates", "all_stories"):
        assert key in data
    assert data["window"] == {"start": "2026-10-26", "end": "2026-11-08", "time_zone": "UTC"}
    assert set(data["image"]) >= {"url", "credit"}
    story = data["stories"][0]
    assert set(story) >= {"headline", "summary_markdown", "score", "articles"}
    assert set(story["articles"][0]) >= {"url", "source", "title", "published"}
    all_urls = sorted(a["url"] for s in data["all_stories"] for a in s["articles"])
    assert all_urls == sorted(i["url"] for i in ALLIANCE + UNRELATED)


def test_hostile_feed_text_renders_inert_everywhere(home, cli, tmp_path):
    evil = {"url": "https://evil.example/1", "title": "US and Japan &lt;script&gt;alert(1)&lt;/script&gt; alliance pact",
            "text": "The United States and Japan signed an alliance pact <script>alert(2)</script> in Tokyo on Monday. "
                    "Officials in Washington called the [alliance](javascript:alert(3)) deal historic for Japan. "
                    "The defense ministers of both countries will meet again in Tokyo next year.",
            "published": "2026-10-27T00:00:00Z", "image": "javascript:alert(4)", "source": "Evil <b>Outlet</b>"}
    cli(home, "ingest", write(tmp_path / "evil.jsonl", json.dumps(evil) + "\n"))
    cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    html = cli(home, "render", "latest", "--format", "html").output
    assert "<script>" not in html
    assert not re.search(r"(href|src)=\"?\s*javascript:", html, re.I)
    assert "&lt;script&gt;" in html  # shown as text, not run
    md = cli(home, "render", "latest", "--format", "md").output
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and "<script>" not in md.replace("\\<script\\>", "")


@pytest.mark.parametrize("plain", ["cars <2.5 tonnes", "a <b> tag", "x <https://a.example> y", "1<2 and 3>2"])
def test_an_angle_bracket_in_article_text_reads_as_written_in_every_format(plain):
    """Drafted sentences are Markdown-escaped; no output may show the escaping backslash (or a tag or link)."""
    from alliance_digest.pipeline.summarise import md_escape
    from alliance_digest.render import markdown_html, markdown_text

    escaped = md_escape(plain)
    html = str(markdown_html(escaped))
    assert "\\" not in html and "<a " not in html and "<b>" not in html
    assert markdown_text(escaped, []) == plain


def test_a_summary_in_two_paragraphs_stays_two_paragraphs_in_every_format(ingested, cli):
    """Editors may write two paragraphs: no <p> inside <p>, no text falling out of the Markdown list item."""
    import lxml.html

    from alliance_digest.db.models import Story

    assert cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0
    story = Story.objects.filter(selected=True).first()
    story.summary_markdown = "Tokyo and Washington **agreed** a pact.\r\n\r\nTalks resume in [May](https://a.example/may)."
    story.save()
    html = cli(ingested, "render", "latest", "--format", "html").output
    assert "<p><p>" not in html
    item = lxml.html.fromstring(html).get_element_by_id("story-1")
    assert [p.text_content() for p in item.findall("p")] == ["Tokyo and Washington agreed a pact.", "Talks resume in May."]
    md = cli(ingested, "render", "latest").output
    assert "- Tokyo and Washington **agreed** a pact.\n\n  Talks resume in [May](https://a.example/may)." in md
    txt = cli(ingested, "render", "latest", "--format", "txt").output
    assert "Tokyo and Washington agreed a pact.\n\nTalks resume in May [1]." in txt


def test_reference_links_and_a_markdown_intro_read_right_in_every_format(ingested, cli):
    """What the editor's preview shows is what every format delivers: reference links, an intro's links."""
    from alliance_digest.db.models import Issue, Story

    assert cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0
    story = Story.objects.filter(selected=True).first()
    story.summary_markdown = ("Officials [agreed][1] on a **$12 billion** fund.\n\nTalks resume soon.\n\n"
                              "[1]: https://example.org/ref")
    story.save()
    Issue.objects.update(intro="Welcome to issue **1.1**, see the [programme](https://example.org/intro).")
    html = cli(ingested, "render", "latest", "--format", "html").output
    assert '<a href="https://example.org/ref" rel="noopener">agreed</a>' in html and "[agreed][1]" not in html
    assert '<a href="https://example.org/intro" rel="noopener">programme</a>' in html
    txt = cli(ingested, "render", "latest", "--format", "txt").output
    flat = " ".join(txt.split())
    assert "Welcome to issue 1.1, see the programme [1]." in flat and "**" not in txt
    assert "Officials agreed [2] on a $12 billion fund." in flat and "[1] https://example.org/intro" in txt


def test_the_editor_refuses_a_relative_or_unsafe_reference_link():
    from alliance_digest.editor.forms import _markdown
    from django import forms

    for target in ("www.example.com/ew", "javascript:alert(1)"):
        with pytest.raises(forms.ValidationError, match="is not a full address"):
            _markdown(f"Officials [agreed][1].\n\n[1]: {target}")
    assert _markdown("Officials [agreed][1].\n\n[1]: https://example.org/x")


def test_a_digest_in_another_language_speaks_it_to_readers(ingested, cli):
    """Labels, the date's style and the lang attributes come from the profile (frozen with the issue)."""
    from alliance_digest.db.models import Issue

    toml = ingested / "digest.toml"
    text = toml.read_text("utf-8").replace('language = "en"\ndate_format = "{month} {day}, {year}"',
                                           'language = "de"\ndate_format = "{day}. {month} {year}"\n'
                                           'month_names = ["Januar", "Februar", "März", "April", "Mai", "Juni", '
                                           '"Juli", "August", "September", "Oktober", "November", "Dezember"]')
    text = text.replace('# headlines = "Headlines"', 'headlines = "Schlagzeilen"').replace(
        '# details = "Details"', 'details = "Einzelheiten"').replace(
        '# image_source = "Image Source"', 'image_source = "Bildquelle"')
    toml.write_text(text, "utf-8")
    assert cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0
    Issue.objects.update(image_url="https://img.example/lead.jpg", image_credit="Agentur")
    html = cli(ingested, "render", "latest", "--format", "html").output
    assert '<html lang="de">' in html and "<h2>Schlagzeilen</h2>" in html and "8. November 2026" in html
    assert "Bildquelle: " in html and "Headlines" not in html
    md = cli(ingested, "render", "latest").output
    assert "Schlagzeilen:" in md and "Einzelheiten:" in md and "8. November 2026" in md
    txt = cli(ingested, "render", "latest", "--format", "txt").output
    assert "SCHLAGZEILEN" in txt and "EINZELHEITEN" in txt
    bad = text.replace('language = "de"', 'language = "German!"')
    toml.write_text(bad, "utf-8")
    refused = cli(ingested, "render", "latest")
    assert refused.exit_code != 0 and "digest.language must be a language tag" in refused.output


def test_an_approved_issue_renders_as_approved_whatever_the_profile_says_since(ingested, cli):
    assert cli(ingested, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0
    assert cli(ingested, "approve", "latest").exit_code == 0
    toml = ingested / "digest.toml"
    toml.write_text(toml.read_text("utf-8").replace('# headlines = "Headlines"', 'headlines = "Top stories"')
                    .replace('footer = "', 'footer = "Changed later. '), "utf-8")
    md = cli(ingested, "render", "latest").output
    assert "Headlines:" in md and "Top stories" not in md and "Changed later." not in md  # as sent and published
    assert cli(ingested, "render", "latest", "--format", "json").output.count('"status": "approved"') == 1
