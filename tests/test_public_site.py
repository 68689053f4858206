"""The public archive: `digest publish`, the archive, issue permalinks and the Atom feed.

The demo workspace's issue 1.1 is approved (frozen) and published; only
published issues are public, and only as frozen.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest

SITE = "https://digest.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_HEADLINE = "<script>alert(1)</script> Tokyo and Washington sign a pact"
HOSTILE_SUMMARY = ("Officials [said](javascript:alert(2)) it was **done**; "
                   '<a href="javascript:alert(3)">raw</a> and [a real source](https://news.example/pact).')


@pytest.fixture
def site(tmp_path: Path):
    """The demo workspace (issue 1.1 drafted), the test host allowed; yields (home, profile)."""
    from django.test.utils import override_settings

    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    from alliance_digest.profile import load_profile

    profile = load_profile(home / "digest.toml")
    assert profile.site_url == SITE
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        yield home, profile


def client():
    from django.test import Client

    return Client()


def issue(key: str = "1.1"):
    from alliance_digest import services

    return services.find_issue(key)


def approve_and_publish(profile, key: str = "1.1"):
    from alliance_digest import delivery, publishing

    found = delivery.approve(profile, issue(key))
    return publishing.publish(profile, found)


def extra_issue(number: int, headline: str):
    """Another issue with one selected story, as a draft."""
    from alliance_digest.db.models import Issue, Story

    start = date(2026, 11, 9) + timedelta(days=14 * (number - 2))  # one issue per window
    made = Issue.objects.create(volume=1, number=number, title="US-Japan Alliance Digest",
                                date=start + timedelta(days=13), window_start=start,
                                window_end=start + timedelta(days=13))
    Story.objects.create(issue=made, selected=True, position=0, headline=headline,
                         summary_markdown="A [source](https://news.example/x) said **so**.")
    return made


def entry_summaries(xml: bytes) -> list[str]:
    """The <summary> HTML of each Atom entry, as a feed reader gets it (XML-unescaped once)."""
    root = ET.fromstring(xml)
    return [e.find(f"{ATOM}summary").text or "" for e in root.findall(f"{ATOM}entry")]


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(page: str) -> None:
    """No script element and no attribute holding a javascript: URL; as escaped text either is harmless."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.tags, "not HTML"
    assert not [t for t, _ in parser.tags if t == "script"]
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    assert "<script" not in page.lower()
    assert 'href="javascript:alert(2)' not in page  # the Markdown link lost its URL


# ---- publishing -------------------------------------------------------------------------------------

def test_only_an_approved_issue_can_be_published_once(site):
    from alliance_digest import delivery, publishing

    home, profile = site
    with pytest.raises(publishing.PublishError, match=r"^issue 1\.1 is not approved: .*digest approve 1\.1"):
        publishing.publish(profile, issue())
    assert issue().status == "draft" and issue().published_at is None
    delivery.approve(profile, issue())
    published = publishing.publish(profile, issue())
    stored = issue()
    assert stored.status == published.status == "published"
    assert stored.published_at is not None and stored.published_at == published.published_at
    with pytest.raises(publishing.PublishError, match=r"^issue 1\.1 is already published"):
        publishing.publish(profile, issue())
    assert issue().published_at == stored.published_at
    assert publishing.permalink(profile, stored) == f"{SITE}/issues/1-1/"


def test_cli_publish_refuses_a_draft_with_one_line_then_publishes(site, cli):
    home, _ = site
    refused = cli(home, "publish", "1.1")
    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: issue 1.1 is not approved:"), refused.output
    assert issue().status == "draft"

    assert cli(home, "approve", "1.1").exit_code == 0
    done = cli(home, "publish", "latest")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"published issue 1.1: {SITE}/issues/1-1/"
    assert [p.name.startswith("issue-1-1-") for p in (home / "cache" / "pdf").glob("*.pdf")] == [True]  # made now
    again = cli(home, "publish", "1.1")
    assert again.exit_code == 1 and len(again.output.strip().splitlines()) == 1
    assert "already published" in again.output
    assert cli(home, "publish", "9.9").output.strip() == "Error: issue 9.9 not found"


# ---- archive and permalinks -------------------------------------------------------------------------

def test_archive_lists_only_published_issues_newest_first(site):
    from alliance_digest import delivery

    home, profile = site
    empty = client().get("/issues/")
    assert empty.status_code == 200 and "No issues have been published yet" in empty.content.decode()

    approve_and_publish(profile)
    approved_only = extra_issue(2, "Approved but not published headline")
    delivery.approve(profile, approved_only)
    extra_issue(3, "Draft-only headline")

    for path in ("/", "/issues/"):
        response = client().get(path)
        assert response.status_code == 200
        page = response.content.decode()
        assert 'href="/issues/1-1/"' in page and "Vol: 1.1" in page and "November 8, 2026" in page
        for story in issue().frozen["stories"]:
            assert shown(story["headline"], page)
        assert "/issues/1-2/" not in page and "Approved but not published" not in page
        assert "/issues/1-3/" not in page and "Draft-only" not in page
        assert 'rel="alternate" type="application/atom+xml"' in page
        assert f'rel="canonical" href="{SITE}/issues/"' in page

    # a second published issue goes on top
    from alliance_digest import publishing

    publishing.publish(profile, issue("1.2"))
    page = client().get("/issues/").content.decode()
    assert page.index("/issues/1-2/") < page.index("/issues/1-1/")
    assert "/issues/1-3/" not in page


def shown(text: str, page: str) -> bool:
    """``text`` appears in ``page`` HTML-escaped (Jinja2 writes ' as &#39;, Django as &#x27;)."""
    from django.utils.html import escape
    from markupsafe import escape as jinja_escape

    return str(jinja_escape(text)) in page or str(escape(text)) in page


def test_permalink_shows_the_frozen_issue_and_is_404_before_publishing(site):
    from alliance_digest import delivery, publishing
    from alliance_digest.render import render

    home, profile = site
    assert client().get("/issues/1-1/").status_code == 404  # a draft
    delivery.approve(profile, issue())
    hidden = client().get("/issues/1-1/")
    assert hidden.status_code == 404 and b"no published issue" in hidden.content  # approved, not published
    assert client().get("/issues/7-7/").status_code == 404  # unknown
    assert hidden.content == client().get("/issues/7-7/").content  # no telling which

    publishing.publish(profile, issue())
    response = client().get("/issues/1-1/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    frozen = issue().frozen
    assert len(frozen["stories"]) >= 3
    for story in frozen["stories"]:
        assert shown(story["headline"], page)
    links = re.findall(r'href="(https://[^"]+)"', render(publishing.public_content(issue()), "html"))
    assert len(links) >= len(frozen["stories"])
    for link in links:  # every source link of the issue's summaries
        assert f'href="{link}"' in page
    # the digest's design (the issue template), with the archive's navigation and head links
    assert "<title>US-Japan Alliance Digest Vol: 1.1</title>" in page
    assert '<ol class="details">' in page and "Vol: 1.1 &middot; November 8, 2026" in page
    assert 'href="/issues/"' in page and 'href="/subscribe/"' in page and 'href="/feed.atom"' in page
    assert f'<link rel="canonical" href="{SITE}/issues/1-1/">' in page
    padded = client().get("/issues/01-001/")
    assert padded.status_code == 301 and padded["Location"] == "/issues/1-1/"  # one address per issue
    assert "Note to editors" not in page
    # the lead image has no description: an empty alt, not the outlet's name again (the caption credits it)
    assert re.search(r'<img src="[^"]+" alt="">\s*<figcaption>Image Source: ', page)
    # the same security headers as the subscription pages; cacheable and revalidatable
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer" and response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "public" in response["Cache-Control"] and response.has_header("Last-Modified")
    again = client().get("/issues/1-1/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    for header in ("Cache-Control", "Referrer-Policy", "Content-Security-Policy"):  # a 304 repeats them
        assert again[header] == response[header], header
    assert client().head("/issues/1-1/").status_code == 200
    assert client().post("/issues/1-1/").status_code == 405


def test_editing_the_draft_after_approval_does_not_change_the_public_page(site):
    from alliance_digest.db.models import Story

    home, profile = site
    approve_and_publish(profile)
    before = client().get("/issues/1-1/")
    first = issue().stories.filter(selected=True).order_by("position").first()
    original = first.headline
    Story.objects.filter(pk=first.pk).update(headline="Edited after approval",
                                             summary_markdown="Changed [x](https://changed.example/).")
    issue().stories.filter(selected=True).exclude(pk=first.pk).update(selected=False)

    after = client().get("/issues/1-1/")
    page = after.content.decode()
    assert after.status_code == 200 and page == before.content.decode()
    assert shown(original, page)
    assert "Edited after approval" not in page and "changed.example" not in page
    assert client().get("/issues/1-1/", HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    feed = client().get("/feed.atom").content.decode()
    assert "Edited after approval" not in feed
    assert "Edited after approval" not in client().get("/issues/").content.decode()


# ---- the Atom feed ----------------------------------------------------------------------------------

def test_atom_feed_has_one_entry_per_published_issue(site):
    import feedparser

    from alliance_digest import delivery, publishing

    home, profile = site
    empty = feedparser.parse(client().get("/feed.atom").content)
    assert not empty.bozo and empty.entries == []

    approve_and_publish(profile)
    delivery.approve(profile, extra_issue(2, "Second issue headline"))  # approved, not published
    extra_issue(3, "A draft")

    response = client().get("/feed.atom")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    assert parsed.feed.title == "US-Japan Alliance Digest"
    assert parsed.feed.id == f"{SITE}/issues/"
    assert parsed.feed.link == f"{SITE}/issues/"
    [entry] = parsed.entries
    published = issue()
    assert entry.title == "US-Japan Alliance Digest Vol: 1.1"
    assert entry.link == f"{SITE}/issues/1-1/" and entry.id == f"{SITE}/issues/1-1/"
    assert entry.updated_parsed[:6] == published.published_at.utctimetuple()[:6]
    summary_text = html.unescape(re.sub(r"<[^>]+>", " ", entry.summary))
    for story in published.frozen["stories"]:
        assert story["headline"] in summary_text
    assert f'href="{SITE}/issues/1-1/#story-1"' in entry.summary

    publishing.publish(profile, issue("1.2"))
    second = client().get("/feed.atom", HTTP_IF_NONE_MATCH=response["ETag"])
    assert second.status_code == 200  # the feed changed: the old ETag no longer matches
    parsed = feedparser.parse(second.content)
    assert [e.link for e in parsed.entries] == [f"{SITE}/issues/1-2/", f"{SITE}/issues/1-1/"]
    unchanged = client().get("/feed.atom", HTTP_IF_NONE_MATCH=second["ETag"])
    assert unchanged.status_code == 304 and unchanged["Cache-Control"] == second["Cache-Control"]


# ---- hostile content ----------------------------------------------------------------------------------

def test_script_and_javascript_links_render_inert_on_the_page_archive_and_feed(site):
    import feedparser

    from alliance_digest.db.models import Story

    home, profile = site
    first = issue().stories.filter(selected=True).order_by("position").first()
    Story.objects.filter(pk=first.pk).update(headline=HOSTILE_HEADLINE, summary_markdown=HOSTILE_SUMMARY)
    approve_and_publish(profile)
    assert issue().frozen["stories"][0]["headline"] == HOSTILE_HEADLINE

    page = client().get("/issues/1-1/").content.decode()
    assert_inert(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tokyo and Washington sign a pact" in page
    assert 'href="https://news.example/pact"' in page  # the safe link survives

    archive = client().get("/issues/").content.decode()
    assert_inert(archive)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in archive

    raw = client().get("/feed.atom").content
    assert b"<script" not in raw.lower() and b"javascript:" not in raw.lower()
    for summary in entry_summaries(raw):  # the HTML a feed reader renders, before any sanitising of its own
        assert_inert(summary)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary
    entry = feedparser.parse(raw).entries[0]
    assert "<script" not in entry.summary and "javascript:" not in entry.summary
    assert HOSTILE_HEADLINE in html.unescape(re.sub(r"<[^>]+>", "", entry.summary))  # shown as text


def test_browsers_asking_for_a_favicon_get_one_not_a_404(site):
    response = client().get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and "max-age" in response["Cache-Control"]
    assert client().post("/favicon.ico").status_code == 405


def test_published_issues_have_a_pdf_edition_made_once(site):
    import io

    from pypdf import PdfReader

    home, profile = site
    assert client().get("/issues/1-1.pdf").status_code == 404  # a draft has no public PDF either
    approve_and_publish(profile)
    page = client().get("/issues/1-1/").content.decode()
    assert 'href="/issues/1-1.pdf"' in page
    first = client().get("/issues/1-1.pdf")
    assert first.status_code == 200 and first["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(first.content)).pages)
    frozen = issue().frozen
    assert all(story["headline"] in text for story in frozen["stories"])
    # the sample's image host is fictional: kept without the image, to be remade later
    (kept,) = (home / "cache" / "pdf").glob("*.pdf")
    assert kept.name.startswith("issue-1-1-") and kept.name.endswith(".no-image.pdf")
    stamp = kept.stat().st_mtime_ns
    again = client().get("/issues/1-1.pdf")
    assert again.content == first.content and kept.stat().st_mtime_ns == stamp  # served from the file
    assert first["ETag"] and first["Last-Modified"]  # validators from the first answer, made by that request
    assert client().get("/issues/1-1.pdf", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client().get("/issues/9-9.pdf").status_code == 404
    # later the whole edition (with its image) is made: a reader holding the first must get it
    whole = kept.with_name(kept.name.replace(".no-image.pdf", ".pdf"))
    whole.write_bytes(first.content + b"\n% with the lead image\n")
    fresh = client().get("/issues/1-1.pdf", HTTP_IF_NONE_MATCH=first["ETag"])
    assert fresh.status_code == 200 and fresh.content == whole.read_bytes() and fresh["ETag"] != first["ETag"]
    assert client().get("/issues/1-1.pdf", HTTP_IF_NONE_MATCH=fresh["ETag"]).status_code == 304


def test_readers_arriving_together_wait_for_one_pdf_rendering(site, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from alliance_digest import publishing
    from alliance_digest.render import pdf as pdf_module

    home, profile = site
    approve_and_publish(profile)
    published = issue()
    made = []
    real = pdf_module.render_pdf

    def counted(data, load_image=None):
        made.append(1)
        return real(data, None)  # no image fetch: quick and offline

    monkeypatch.setattr(pdf_module, "render_pdf", counted)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: publishing.pdf_edition(profile, published), range(4)))
    assert len(made) == 1 and len(set(results)) == 1 and results[0].startswith(b"%PDF-")


# ---- the archive, page by page --------------------------------------------------------------------

def publish_many(profile, count: int) -> list[str]:
    """Issue 1.1 approved and published, then 1.2 ... 1.<count> published after it (copies of its
    frozen content, each with a headline of its own); returns the headlines, oldest issue first."""
    import copy

    from alliance_digest import publishing
    from alliance_digest.db.models import Issue

    first = approve_and_publish(profile)
    made = []
    for n in range(2, count + 1):
        frozen = copy.deepcopy(first.frozen)
        day = date(2026, 11, 8) + timedelta(days=14 * (n - 1))
        frozen.update(number=n, label=f"Vol: 1.{n}", date=day.isoformat(), date_text=day.strftime("%B %-d, %Y"))
        frozen["stories"] = [{**frozen["stories"][0], "headline": f"Headline of issue {n}"}]
        made.append(Issue(volume=1, number=n, title=first.title, date=day, window_start=day - timedelta(days=13),
                          window_end=day, status=Issue.Status.PUBLISHED, frozen=frozen, approved_at=first.approved_at,
                          published_at=first.published_at + timedelta(days=14 * (n - 1))))
    Issue.objects.bulk_create(made)
    assert publishing.published_issues().count() == count
    return [first.frozen["stories"][0]["headline"]] + [f"Headline of issue {n}" for n in range(2, count + 1)]


def listed(page: str) -> list[str]:
    """The permalinks an archive page lists, in order."""
    return re.findall(r'<h2><a href="(/issues/\d+-\d+/)">', page)


def head_links(page: str) -> dict[str, str]:
    return dict(re.findall(r'<link rel="(canonical|prev|next)" href="([^"]+)">', page))


def test_the_archive_is_paginated_newest_first_with_prev_and_next_links(site):
    from alliance_digest.web.public import ARCHIVE_PAGE_SIZE

    home, profile = site
    assert ARCHIVE_PAGE_SIZE == 50
    assert client().get("/issues/page/2/").status_code == 404  # nothing published: one (empty) page
    publish_many(profile, 120)

    first = client().get("/issues/")
    assert first.status_code == 200
    page = first.content.decode()
    assert listed(page) == [f"/issues/1-{n}/" for n in range(120, 70, -1)]  # the newest 50
    assert "Issues 1–50 of 120" in page and "Headline of issue 71" in page and "Headline of issue 70" not in page
    assert head_links(page) == {"canonical": f"{SITE}/issues/", "next": f"{SITE}/issues/page/2/"}
    assert '<a href="/issues/page/2/" rel="next">Older issues' in page and 'rel="prev"' not in page
    assert "<title>Archive, page 1 of 3 · " in page
    assert client().get("/").content == first.content  # the home page is page 1, as before

    second = client().get("/issues/page/2/")
    assert second.status_code == 200
    page = second.content.decode()
    assert listed(page) == [f"/issues/1-{n}/" for n in range(70, 20, -1)]  # the next 50, older
    assert "Issues 51–100 of 120" in page and "Headline of issue 70" in page
    assert head_links(page) == {"canonical": f"{SITE}/issues/page/2/", "prev": f"{SITE}/issues/",
                                "next": f"{SITE}/issues/page/3/"}
    assert '<a href="/issues/" rel="prev">← Newer issues</a>' in page  # back to page 1's one address
    assert '<a href="/issues/page/3/" rel="next">Older issues' in page
    assert '<span aria-current="page">2</span>' in page and "<title>Archive, page 2 of 3 · " in page
    assert '<meta name="robots"' not in page  # indexable, like page 1

    third = client().get("/issues/page/3/").content.decode()
    assert listed(third) == [f"/issues/1-{n}/" for n in range(20, 0, -1)]  # the oldest 20, issue 1.1 last
    assert "Issues 101–120 of 120" in third and "November 8, 2026" in third
    assert head_links(third) == {"canonical": f"{SITE}/issues/page/3/", "prev": f"{SITE}/issues/page/2/"}
    assert 'rel="next"' not in third

    # one address per page; pages that do not exist are the site's 404, never a server error
    for path, location in (("/issues/page/1/", "/issues/"), ("/issues/page/02/", "/issues/page/2/"),
                           ("/issues/?page=3", "/issues/page/3/"), ("/?page=2", "/issues/page/2/")):
        moved = client().get(path)
        assert moved.status_code == 301 and moved["Location"] == location, path
    for path in ("/issues/page/4/", "/issues/page/999/", "/issues/page/0/", "/issues/page/-1/", "/issues/page/abc/",
                 "/issues/page/99999999999999999999999999/", "/issues/page/", "/issues/page/2.5/"):
        missing = client().get(path)
        assert missing.status_code == 404, path
        assert "Page not found" in missing.content.decode() and missing["X-Robots-Tag"] == "noindex", path
        assert not missing.has_header("ETag"), path


def test_each_archive_page_revalidates_and_changes_when_an_issue_is_published(site):
    from alliance_digest import publishing

    home, profile = site
    publish_many(profile, 60)
    first, second = client().get("/issues/"), client().get("/issues/page/2/")
    assert first["ETag"] != second["ETag"]
    assert second["Last-Modified"] == first["Last-Modified"]  # every page shifts when an issue is published
    for response in (first, second):
        assert "public" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]
    for path, response in (("/issues/", first), ("/issues/page/2/", second)):
        again = client().get(path, HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304, path
        for header in ("Cache-Control", "Referrer-Policy", "Content-Security-Policy"):  # a 304 repeats them
            assert again[header] == response[header], (path, header)
        assert client().get(path, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]).status_code == 304
    assert client().head("/issues/page/2/").status_code == 200
    assert client().post("/issues/page/2/").status_code == 405
    assert listed(second.content.decode()) == [f"/issues/1-{n}/" for n in range(10, 0, -1)]

    # issue 1.61 published: 1.11 moves from page 1 to page 2, whose old ETag no longer matches
    from alliance_digest import delivery

    delivery.approve(profile, extra_issue(61, "The newest issue's headline"))
    publishing.publish(profile, issue("1.61"))
    changed = client().get("/issues/page/2/", HTTP_IF_NONE_MATCH=second["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != second["ETag"]
    assert listed(changed.content.decode()) == [f"/issues/1-{n}/" for n in range(11, 0, -1)]
    assert "Issues 51–61 of 61" in changed.content.decode()
    assert "The newest issue" in client().get("/issues/").content.decode()


def test_the_feed_lists_the_newest_fifty_issues_as_the_archive_first_page_does(site):
    import feedparser

    home, profile = site
    publish_many(profile, 55)
    parsed = feedparser.parse(client().get("/feed.atom").content)
    assert not parsed.bozo, parsed.bozo_exception
    links = [entry.link for entry in parsed.entries]
    assert links == [SITE + path for path in listed(client().get("/issues/").content.decode())]
    assert links[0] == f"{SITE}/issues/1-55/" and links[-1] == f"{SITE}/issues/1-6/"
    assert parsed.feed.link == f"{SITE}/issues/"


def test_server_errors_and_refused_forms_get_the_sites_own_pages(site, monkeypatch):
    from django.test import Client

    from alliance_digest import publishing

    def broken():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(publishing, "published_issues", broken)
    failed = Client(raise_request_exception=False).get("/issues/")
    page = failed.content.decode()
    assert failed.status_code == 500 and "Something went wrong" in page and 'href="/issues/"' in page
    assert "US-Japan Alliance Digest" in page and "prefers-color-scheme: dark" in page
    assert "no-store" in failed["Cache-Control"] and "the database went away" not in page
    monkeypatch.undo()

    refused = Client(enforce_csrf_checks=True).post("/subscribe/", {"email": "a@example.org"})
    page = refused.content.decode()
    assert refused.status_code == 403 and "Please send the form again" in page and "cookies" in page
    assert "prefers-color-scheme: dark" in page and "CSRF verification failed" not in page


def test_every_public_page_takes_its_colours_from_the_one_stylesheet():
    """web/templates' pages extend base.html, which inlines digest_web/public.css; no colour is set elsewhere."""
    templates = Path(__file__).resolve().parent.parent / "src" / "alliance_digest" / "web" / "templates" / "digest_web"
    pages = sorted(p for p in templates.glob("*.html") if p.name != "base.html")
    assert len(pages) >= 10
    for path in pages:
        text = path.read_text("utf-8")
        assert text.startswith('{% extends "digest_web/base.html" %}'), path.name
        assert not re.search(r"#[0-9a-fA-F]{3,6}\b|rgba?\(|<style", text), path.name
    base = (templates / "base.html").read_text("utf-8")
    assert '{% include "digest_web/public.css" %}' in base and not re.search(r"#[0-9a-fA-F]{3,6}\b", base)
    css = (templates / "public.css").read_text("utf-8")
    assert "@media (prefers-color-scheme: dark)" in css


# ---- in a browser: the dark scheme -----------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ORIGIN = "http://digest.test"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# For each element: its text colour, and the background it is drawn on (the nearest opaque one).
COLOURS = """selectors => selectors.map(selector => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
  let bg = el, back = [0, 0, 0, 0];
  while (bg) { back = parse(getComputedStyle(bg).backgroundColor); if (back.length < 4 || back[3] > 0) break;
               bg = bg.parentElement; }
  if (!bg) back = parse(getComputedStyle(document.documentElement).backgroundColor);
  return {selector, color: parse(getComputedStyle(el).color), background: back,
          page: parse(getComputedStyle(document.body).backgroundColor)};
})"""


def luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _responses(paths: list[str]) -> dict[str, tuple[int, dict, bytes]]:
    """The pages as the site serves them (status, headers, body), fetched before the browser starts:
    Playwright's sync API keeps an event loop in this thread, where Django refuses database queries."""
    served = {}
    for path in paths:
        response = client().get(path)
        served[ORIGIN + path] = (response.status_code, dict(response.items()), response.content)
    return served


def _browser_pages(served: dict, scheme: str, check) -> dict:
    """Open each page in chromium with ``color_scheme=scheme`` (the site answers through a route,
    with its own headers, CSP included); ``check(page)`` says what to keep."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    results = {}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        try:
            context = browser.new_context(viewport={"width": 1000, "height": 800}, color_scheme=scheme,
                                          bypass_csp=True)  # to inject axe; the page's own styles are inline

            def answer(route):
                status, headers, body = served.get(route.request.url, (404, {}, b""))
                route.fulfill(status=status, headers=headers, body=body)

            context.route(f"{ORIGIN}/**", answer)
            page = context.new_page()
            for url in served:
                page.goto(url)
                results[url[len(ORIGIN):]] = check(page)
        finally:
            browser.close()
    return results


def test_every_public_page_has_a_dark_mode_with_readable_contrast(site):
    """In a dark-scheme chromium: a dark page, light text, every text at least 4.5:1 (measured, and
    axe-core's color-contrast rule), the archive the same colour as the issue page; light stays light."""
    home, profile = site
    publish_many(profile, 60)
    from alliance_digest import tokens
    from alliance_digest.db.models import Subscriber

    subscriber = Subscriber.objects.create(email="dark@example.org", email_normalized="dark@example.org",
                                           status=Subscriber.Status.ACTIVE)
    paths = ["/issues/", "/issues/page/2/", "/subscribe/", "/issues/page/999/",
             f"/unsubscribe/{tokens.unsubscribe_token(subscriber)}/", "/confirm/not-a-token/", "/issues/1-60/"]
    served = _responses(paths)
    assert [served[ORIGIN + p][0] for p in paths] == [200, 200, 200, 404, 200, 400, 200]
    from django.test import Client

    refused = Client(enforce_csrf_checks=True).post("/subscribe/", {"email": "a@example.org"})  # the form, refused
    served[ORIGIN + "/subscribe/?refused"] = (refused.status_code, dict(refused.items()), refused.content)
    script = AXE.read_text("utf-8")
    selectors = ["body", "main", "h1", ".note, .meta", "a"]

    def colours_and_axe(page):
        measured = page.evaluate(COLOURS, selectors)
        page.add_script_tag(content=script)
        violations = page.evaluate(
            "async () => (await axe.run(document, {runOnly: ['color-contrast'], resultTypes: ['violations']}))"
            ".violations.map(v => `${v.id}: ${v.nodes.map(n => n.html.slice(0, 80)).join(' | ')}`)")
        return measured, violations

    dark = _browser_pages(served, "dark", colours_and_axe)
    light = _browser_pages(_responses(["/issues/page/2/"]), "light", lambda page: page.evaluate(COLOURS, ["body"]))

    issue_background = None
    for path, (measured, violations) in dark.items():
        assert violations == [], (path, violations)
        by = {m["selector"]: m for m in measured if m}
        assert luminance(by["body"]["page"]) < 0.02, (path, by["body"])  # a dark page...
        assert luminance(by["body"]["color"]) > 0.6, (path, by["body"])  # ...with light text
        for selector in selectors[2:]:
            if selector in by:
                assert contrast(by[selector]["color"], by[selector]["background"]) >= 4.5, (path, by[selector])
        if path == "/issues/1-60/":
            issue_background = by["body"]["page"]
    # the archive reads as the issue page does in the dark: the same page colour
    assert dark["/issues/page/2/"][0][0]["page"] == issue_background
    # and the light scheme stays light
    assert luminance(light["/issues/page/2/"][0]["page"]) > 0.8
