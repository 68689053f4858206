"""The draft editor's larger actions: merge, split, add, lead image, issue fields, history restore,
sending from the web, sign-in limits, source health and the vendored htmx.

Driven over HTTP with Django's test client on the demo workspace (issue 1.1:
5 stories, 7 candidates), as in test_editor.py.
"""

from __future__ import annotations

import functools
import hashlib
import html
import http.server
import os
import re
import threading
import time
from pathlib import Path

import pytest

from test_editor import (  # noqa: F401  (fixtures: demo, editor, client)
    ISSUE, PASSWORD, candidate_ids, client, csrf_token, demo, editor, issue, selected_ids, snapshot, url)

ROOT = Path(__file__).resolve().parent.parent




def touch(path: Path) -> None:
    """The web app re-reads the profile when its modification time changes."""
    stamp = time.time_ns() + 10**9
    os.utime(path, ns=(stamp, stamp))


def set_profile(home: Path, section: str, key: str, value: str) -> None:
    path = home / "digest.toml"
    text = path.read_text("utf-8")
    text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
    if not n:
        if f"[{section}]" in text:
            text = text.replace(f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
        else:
            text += f"\n[{section}]\n{key} = {value}\n"
    path.write_text(text, "utf-8")
    touch(path)


def story(pk):
    from alliance_digest.db.models import Story

    return Story.objects.get(pk=pk)


def article_ids(pk) -> list[int]:
    return list(story(pk).storyarticle_set.order_by("position").values_list("article_id", flat=True))


def messages_of(response) -> list[str]:
    return [html.unescape(m) for m in
            re.findall(r'<li class="(?:error|success)">([^<]*)</li>', response.content.decode())]


# ---- merge, split, restore -------------------------------------------------------------------------

def test_merge_then_restore_brings_both_stories_back(client, editor):
    from alliance_digest.db.models import IssueEdit

    s = selected_ids()
    target, absorbed = s[0], s[1]
    before = {pk: (story(pk).headline, story(pk).summary_markdown, article_ids(pk)) for pk in (target, absorbed)}
    merged_expected = before[target][2] + [a for a in before[absorbed][2] if a not in before[target][2]]

    response = client.post(url("merge"), {"target": target, "absorbed": absorbed}, follow=True)
    assert f"into “{before[target][0]}”" in " ".join(messages_of(response))
    assert selected_ids() == [target] + s[2:]
    assert article_ids(target) == merged_expected
    assert story(target).headline == before[target][0]  # the target's text is kept
    assert story(target).reasons["articles"] == len(merged_expected)  # rescored with the combined coverage
    assert not issue().stories.filter(pk=absorbed).exists()
    merge = IssueEdit.objects.get(action="merge")
    assert merge.detail["absorbed"]["headline"] == before[absorbed][0] and merge.user == editor
    # kept as pair examples for a learned grouping: every target article with every absorbed one is "same"
    from alliance_digest import learning
    from alliance_digest.db.models import Article

    url_of = dict(Article.objects.values_list("pk", "canonical_url"))
    pairs = learning.grouping_pairs()
    expected = {tuple(sorted((url_of[a], url_of[b]))) for a in before[target][2] for b in before[absorbed][2]
                if a != b}
    assert set(pairs) == expected and all(pairs.values())
    # merging a story with itself is refused
    same = client.post(url("merge"), {"target": target, "absorbed": target}, follow=True)
    assert "two different stories" in same.content.decode()

    # the history offers the version before the merge (the machine's draft); restore it
    page = client.get(ISSUE).content.decode()
    drafted = IssueEdit.objects.get(action="drafted")
    assert f'name="version" value="{drafted.pk}"' in page
    assert f'name="version" value="{merge.pk}"' not in page  # the current version
    response = client.post(url("restore"), {"version": drafted.pk}, follow=True)
    assert "Restored the version" in response.content.decode()
    assert selected_ids() == s
    for pk, (headline, summary, articles) in before.items():
        assert (story(pk).headline, story(pk).summary_markdown, article_ids(pk)) == (headline, summary, articles)
    restore = IssueEdit.objects.get(action="restore")
    assert restore.detail["recreated"] == [before[absorbed][0]] and restore.snapshot
    # the merge is undone, so it is no longer the editors' judgement: later drafts need not keep it
    assert learning.grouping_pairs() == {}

    # restoring is itself a change: the merged version can be restored again, and the merge holds again
    client.post(url("restore"), {"version": merge.pk})
    assert selected_ids() == [target] + s[2:] and article_ids(target) == merged_expected
    assert learning.grouping_pairs() == pairs
    assert client.post(url("restore"), {"version": 999999}, follow=True).content.decode().count(
        "not in this issue&#x27;s history") == 1


def test_saving_a_story_another_editor_dropped_says_it_will_not_run(client):
    source = selected_ids()[1]
    client.post(url("drop", source))  # the other editor, a moment before
    saved = client.post(url("edit", source), {f"s{source}-headline": "Edited after all",
                                              f"s{source}-summary_markdown": story(source).summary_markdown},
                        follow=True).content.decode()
    assert "Saved. This story is now candidate" in saved and "include it to run it" in saved
    # five selected stories are asked for; four now: the approve card says so
    assert 'id="approve-count">The issue holds 4 stories; the profile asks for 5.' in saved


def test_split_keeps_the_text_an_editor_wrote_and_says_to_check_it(client):
    source = next(pk for pk in selected_ids() if len(article_ids(pk)) >= 2)
    written = "Allies **agree** a new command, editors' own words."
    client.post(url("edit", source), {f"s{source}-headline": "Editors' headline",
                                      f"s{source}-summary_markdown": written})
    response = client.post(url("split", source), {"articles": article_ids(source)[-1:]}, follow=True)
    assert "keeps the text an editor wrote: check it no longer cites them" in response.content.decode()
    assert (story(source).headline, story(source).summary_markdown) == ("Editors' headline", written)


def test_split_moves_the_ticked_articles_into_a_new_candidate(client):
    from alliance_digest.db.models import IssueEdit

    from alliance_digest.db.models import Article

    def cited(pk, article):  # the machine's draft quotes this article
        return Article.objects.get(pk=article).url in story(pk).summary_markdown

    # a story whose draft quotes one of its later articles: that article leaves
    source, moving = next((pk, [a]) for pk in selected_ids() for a in article_ids(pk)[1:] if cited(pk, a))
    links = article_ids(source)
    candidates_before = candidate_ids()
    page = client.get(ISSUE).content.decode()
    assert f'action="{url("split", source)}"' in page and f'name="articles" value="{moving[0]}"' in page

    moved_url = Article.objects.get(pk=moving[0]).url
    response = client.post(url("split", source), {"articles": moving}, follow=True)
    assert "Split into the new candidate" in response.content.decode()
    assert "drafted again from the articles it keeps" in response.content.decode()
    assert article_ids(source) == [a for a in links if a != moving[0]]
    left = story(source)  # never edited by hand: drafted again, so it no longer quotes what left
    assert moved_url not in left.summary_markdown and left.summary_markdown and left.headline
    new_id = (set(candidate_ids()) - set(candidates_before)).pop()
    new = story(new_id)
    assert not new.selected and article_ids(new_id) == moving
    assert new.headline and new.summary_markdown and new.score > 0 and new.reasons["articles"] == 1
    assert "](http" in new.summary_markdown  # drafted like the machine's stories: sentences linked to the source
    assert sorted(story(pk).position for pk in candidate_ids()) == list(range(1, len(candidates_before) + 2))
    assert IssueEdit.objects.get(action="split").story_id == new_id
    # kept as pair examples: what left and what stayed are different stories
    from alliance_digest import learning
    from alliance_digest.db.models import Article

    url_of = dict(Article.objects.values_list("pk", "canonical_url"))
    pairs = learning.grouping_pairs()
    assert set(pairs) == {tuple(sorted((url_of[a], url_of[moving[0]]))) for a in links if a != moving[0]}
    assert not any(pairs.values())

    # all of a story's articles, or none, cannot be split out
    for data in ({"articles": article_ids(source)}, {}):
        refused = client.post(url("split", source), data, follow=True)
        assert refused.status_code == 200 and messages_of(refused)[0].startswith(("Leave at least", "Tick the"))
    assert article_ids(source) == [a for a in links if a != moving[0]]


# ---- adding stories -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><meta property="og:title" content="{title}">
<meta property="og:image" content="http://127.0.0.1/img/{slug}.jpg">
<meta property="article:published_time" content="2026-11-03T09:00:00Z">
<meta property="og:site_name" content="Loopback Times"></head><body><article><h1>{title}</h1>
<p>Japanese and American defence ministers met in Tokyo on Tuesday to agree a new joint command
structure for their forces, officials from both governments said after the talks.</p>
<p>The alliance agreement commits Japan and the United States to closer cooperation on missile
defence and to regular joint exercises in the region, according to a statement released on Tuesday.</p>
<p>Analysts said the {slug} deal marks the largest change to the alliance in decades and reflects
growing concern in both capitals about security in the Indo-Pacific region.</p>
</article></body></html>"""


@pytest.fixture
def pages(tmp_path: Path):
    """Two article pages served by a loopback http.server: ``(base URL, [page URLs])``."""
    root = tmp_path / "site"
    root.mkdir()
    for slug, title in (("one", "Allies agree joint command in Tokyo"), ("two", "Tokyo talks bring missile pact")):
        (root / f"{slug}.html").write_text(PAGE.format(slug=slug, title=title), "utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield base, [f"{base}/one.html", f"{base}/two.html"]
    finally:
        server.shutdown()
        server.server_close()


def test_add_a_story_from_loopback_urls_only_when_the_profile_allows_it(client, demo, pages):
    from alliance_digest.db.models import Article, EditorDecision, IssueEdit

    base, urls = pages
    before = snapshot()
    refused = client.post(url("add/urls"), {"urls": urls[0]}, follow=True)
    lines = messages_of(refused)
    assert any(urls[0] in line and "loopback" in line and "\n" not in line for line in lines), lines
    assert "No story added" in " ".join(lines)
    assert snapshot() == before and not Article.objects.filter(url__startswith=base).exists()

    set_profile(demo, "fetch", "allow_private_addresses", "true")
    missing = f"{base}/missing.html"
    response = client.post(url("add/urls"), {"urls": f"{urls[0]}\n{missing}\n  {urls[1]} "}, follow=True)
    lines = messages_of(response)
    assert any(missing in line and "404" in line for line in lines), lines  # named, one line
    added = story(selected_ids()[-1])
    assert f"Added “{added.headline}” as story 6." in lines
    assert [a.url for a in added.articles.order_by("storyarticle__position")] == urls
    assert added.headline in ("Allies agree joint command in Tokyo", "Tokyo talks bring missile pact")
    assert added.summary_markdown and "127.0.0.1" in added.summary_markdown and added.score > 0
    assert Article.objects.filter(url__in=urls).count() == 2
    edit = IssueEdit.objects.get(action="add")
    assert edit.detail["urls"] == urls and missing in edit.detail["refused"][0]
    assert EditorDecision.objects.get(decision="included").article_urls
    assert added.headline in client.get(ISSUE + "preview/email/").content.decode()

    # what the editors pasted themselves is not news that "arrived since drafted"
    assert "No article arrived in this window since it was drafted" in client.get(ISSUE).content.decode()
    # pasting an article the issue already holds adds no second story: it says where it is
    stories_before = selected_ids()
    again = messages_of(client.post(url("add/urls"), {"urls": urls[1] + "?utm_source=x"}, follow=True))
    assert any(f"already in story 6 “{added.headline}”" in line for line in again), again
    assert selected_ids() == stories_before and Article.objects.filter(url__in=urls).count() == 2
    nothing = client.post(url("add/urls"), {"urls": "   "}, follow=True)
    assert "Not added" in nothing.content.decode()
    words = messages_of(client.post(url("add/urls"), {"urls": "not a url"}, follow=True))
    assert sum("not a url" in line for line in words) == 1, words  # one entry refused once, not three words
    from alliance_digest.editor.drafting import split_urls

    assert split_urls(f"- {urls[0]}\n1. {urls[1]}\nSee: <{missing}>,") == [urls[0], urls[1], missing]  # a list


def test_a_redirect_to_a_private_address_is_refused(client, demo, monkeypatch):
    """A public URL redirecting to loopback is refused at the hop, not fetched."""
    from alliance_digest.pipeline import netsafety

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/secret")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    real_resolve = netsafety.resolve
    # "public.test" stands for a public host that happens to be served from here
    monkeypatch.setattr(netsafety, "resolve", lambda host, p: ["93.184.216.34"] if host == "public.test"
                        else real_resolve(host, p))
    from alliance_digest.pipeline import fetcher

    real_fetch_all = fetcher.fetch_all
    monkeypatch.setattr(fetcher, "fetch_all", lambda requests, policy, **kw: real_fetch_all(
        requests, policy, transport=_routing_transport(port), **kw))
    try:
        response = client.post(url("add/urls"), {"urls": "http://public.test/page"}, follow=True)
    finally:
        server.shutdown()
        server.server_close()
    lines = messages_of(response)
    assert "/page" in hits and not any("secret" in hit for hit in hits), hits
    assert any("http://public.test/page: refused" in line for line in lines), lines


def _routing_transport(port):
    """An httpx transport that sends requests for public.test to the loopback server."""
    import httpx

    class Routing(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request):
            if request.url.host == "public.test":
                request.url = request.url.copy_with(host="127.0.0.1", port=port)
            return await super().handle_async_request(request)

    return Routing()


def test_write_a_story(client):
    from alliance_digest.db.models import IssueEdit

    response = client.post(url("add/write"), {"new-headline": "Editors' note on the summit",
                                              "new-summary_markdown": "A **written** story. <script>x</script>"},
                           follow=True)
    assert "Added “Editors&#x27; note on the summit” as story 6." in response.content.decode()
    written = story(selected_ids()[-1])
    assert written.headline == "Editors' note on the summit" and not written.articles.exists()
    assert IssueEdit.objects.get(action="add").detail["written"] is True
    web = client.get(ISSUE + "preview/web/").content.decode()
    assert "<strong>written</strong>" in web and "<script>x" not in web
    bad = client.post(url("add/write"), {"new-headline": "", "new-summary_markdown": "x"}, follow=True)
    assert "Not added" in bad.content.decode() and len(selected_ids()) == 6


# ---- lead image -------------------------------------------------------------------------------------

def test_a_chosen_lead_image_survives_reordering_until_set_back_to_automatic(client):
    from alliance_digest.db.models import Issue, IssueEdit

    page = client.get(ISSUE).content.decode()
    picks = re.findall(r'name="image" value="(\d+)"', page)
    assert len(picks) >= 2 and 'referrerpolicy="no-referrer"' in page
    automatic = issue().image_url
    chosen = next(p for p in picks if _article(p).image_url != automatic)
    article = _article(chosen)
    response = client.post(url("image"), {"image": chosen}, follow=True)
    assert "Lead image chosen." in response.content.decode()
    current = Issue.objects.get(pk=issue().pk)
    assert (current.image_url, current.image_credit, current.image_chosen) == (article.image_url, article.source, True)

    s = selected_ids()
    client.post(url("reorder"), {"order": ",".join(map(str, reversed(s)))})
    client.post(url("drop", s[-1]))
    client.post(url("move", s[1]), {"direction": "up"})
    assert issue().image_url == article.image_url  # the editor's choice stays

    client.post(url("image"), {"image": "auto"})
    top = story(selected_ids()[0])
    assert issue().image_url in {a.image_url for a in top.articles.all()} and not issue().image_chosen
    assert client.post(url("image"), {"image": "999999"}, follow=True).content.decode().count("not among") == 1
    client.post(url("image"), {"image": "none"})
    assert issue().image_url == "" and issue().image_chosen
    assert "<figure>" not in client.get(ISSUE + "preview/web/").content.decode()
    assert IssueEdit.objects.filter(action="image").count() == 3


def _article(pk):
    from alliance_digest.db.models import Article

    return Article.objects.get(pk=pk)


def test_credit_edit_appears_in_the_previews(client):
    data = {"image_alt": "Ministers shake hands", "image_credit": "Photo: A. Example / Agency",
            "image_credit_url": "https://agency.example/photo/1"}
    response = client.post(url("image/credit"), data, follow=True)
    assert "Image credit saved." in response.content.decode()
    assert issue().image_chosen
    for kind in ("web", "email"):
        page = client.get(f"{ISSUE}preview/{kind}/").content.decode()
        assert "Photo: A. Example / Agency" in page and 'href="https://agency.example/photo/1"' in page, kind
        assert 'alt="Ministers shake hands"' in page, kind
    assert "Photo: A. Example / Agency (https://agency.example/photo/1)" in \
        client.get(ISSUE + "preview/text/").content.decode()
    # the credit then survives a change of the top story
    client.post(url("drop", selected_ids()[0]))
    assert issue().image_credit == "Photo: A. Example / Agency"
    bad = client.post(url("image/credit"), {**data, "image_credit": "Photo: B. Other",
                                            "image_credit_url": "javascript:alert(1)"}, follow=True)
    assert "Not saved: Credit link" in bad.content.decode()
    assert issue().image_credit_url == "https://agency.example/photo/1"
    assert 'value="Photo: B. Other"' in bad.content.decode()  # what was typed stays in the form to correct


# ---- issue fields -----------------------------------------------------------------------------------

def test_issue_fields_are_saved_and_a_number_clash_is_refused(client):
    from alliance_digest.db.models import Issue, IssueEdit

    other = Issue.objects.create(volume=1, number=2, title="Other", date="2025-07-01", window_start="2025-06-17",
                                 window_end="2025-06-30")
    data = {"date": "2025-06-20", "volume": 1, "number": 2, "intro": "Welcome"}
    clash = client.post(url("fields"), data, follow=True)
    assert "Number 1.2 is already taken by another issue" in clash.content.decode()
    assert (issue().number, issue().intro) == (1, "")

    data = {"date": "2025-06-20", "volume": 1, "number": 3,
            "intro": "This week: **allies** meet. [More](https://example.org/a) <script>alert(1)</script>"}
    response = client.post(url("fields"), data)
    assert response.status_code == 303 and response["Location"] == "/editor/issues/1-3/#fields"
    moved = Issue.objects.get(volume=1, number=3)
    assert str(moved.date) == "2025-06-20" and moved.intro.startswith("This week")
    web = client.get("/editor/issues/1-3/preview/web/").content.decode()
    assert "<strong>allies</strong>" in web and "<script>alert" not in web and "June 20, 2025" in web
    email = client.get("/editor/issues/1-3/preview/email/").content.decode()
    assert "<strong" in email and "allies</strong>" in email and "<script>alert" not in email
    # another editor's open tab or bookmark of the old number leads to the issue under its new one
    old_address = client.get(ISSUE)
    assert old_address.status_code == 302 and old_address["Location"] == "/editor/issues/1-3/"
    assert client.get("/editor/issues/7-7/").status_code == 404
    edit = IssueEdit.objects.get(action="fields")
    assert edit.detail["number"] == {"before": "1", "after": "3"}
    bad = client.post("/editor/issues/1-3/fields/", {**data, "date": "20/06/2025"}, follow=True)
    assert "Not saved: Date" in bad.content.decode() and other.number == 2


# ---- sending ----------------------------------------------------------------------------------------

def test_send_from_the_web_delivers_and_reports_progress(client, demo, editor):
    from smtp_sink import SmtpSink

    from alliance_digest.db.models import IssueEdit, Subscriber

    for k in range(3):
        Subscriber.objects.create(email=f"r{k}@example.org", email_normalized=f"r{k}@example.org", status="active")
    Subscriber.objects.create(email="p@example.org", email_normalized="p@example.org", status="pending")
    draft_page = client.get(ISSUE).content.decode()
    assert 'id="send-button"' not in draft_page
    refused = client.post(url("send"), {"confirm": "yes"}, follow=True)
    assert "not approved yet" in refused.content.decode()

    client.post(url("approve"))
    page = client.get(ISSUE).content.decode()
    assert "Send to 3 subscribers" in page and 'id="send-confirm"' in page
    assert "Before sending: [digest] site_url is https://digest.example.org, a placeholder" in page
    assert "Sending also publishes the issue on the public archive" in page
    unconfirmed = client.post(url("send"), {}, follow=True)
    assert "tick the box" in unconfirmed.content.decode() and not IssueEdit.objects.filter(action="send").exists()

    with SmtpSink() as sink:
        for key, value in (("smtp_host", '"127.0.0.1"'), ("smtp_port", str(sink.port)),
                           ("smtp_security", '"none"'), ("rate_per_second", "0")):
            set_profile(demo, "email", key, value)
        response = client.post(url("send"), {"confirm": "yes"}, follow=True)
        assert "Sending issue 1.1 to 3 subscriber(s)" in response.content.decode()
        assert IssueEdit.objects.get(action="send").user == editor
        # published on the way, by this editor, so that the email's web and PDF links work
        assert issue().status == "published" and IssueEdit.objects.get(action="publish").user == editor
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress = client.get(url("send/progress"))
            if "finished" in progress.content.decode():
                break
            time.sleep(0.3)
        received = sink.recorder.received()
    text = progress.content.decode()
    assert progress.status_code == 200 and 'id="send-state">finished' in text
    # the card above the panel no longer says the delivery is running (htmx swaps it out of band)
    assert '<p id="send-running" hx-swap-oob="true">The delivery has ended' in text
    counts = dict(re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", text))
    assert counts == {"Sent": "3", "Queued": "0", "Failed": "0", "Total": "3"}
    assert "hx-trigger" not in text  # polling stops once the send is over
    assert sorted(received) == ["r0@example.org", "r1@example.org", "r2@example.org"]
    assert all(n == 1 for n in received.values())
    again = client.post(url("send"), {"confirm": "yes"}, follow=True)
    assert "Nobody is left to send issue 1.1 to" in again.content.decode()


def test_a_running_send_is_not_started_twice_and_polls(client):
    import socket
    import subprocess
    import sys

    from alliance_digest.db.models import Issue, IssueEdit, Subscriber

    Subscriber.objects.create(email="r@example.org", email_normalized="r@example.org", status="active")
    client.post(url("approve"))
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Issue.objects.filter(pk=issue().pk).update(send_state="sending",
                                                   send_note=f"pid {busy.pid} on {socket.gethostname()}")
        response = client.post(url("send"), {"confirm": "yes"}, follow=True)
        assert "is already running" in response.content.decode()
        assert not IssueEdit.objects.filter(action="send").exists()
        progress = client.get(url("send/progress")).content.decode()
        assert 'hx-trigger="every 2s"' in progress and 'hx-get="/editor/issues/1-1/send/progress/"' in progress
    finally:
        busy.kill()
        busy.wait()
    stopped = client.get(url("send/progress")).content.decode()
    assert 'id="send-state">stopped' in stopped and "hx-trigger" not in stopped


# ---- who may do what --------------------------------------------------------------------------------

def new_posts() -> list[tuple[str, dict]]:
    s, c = selected_ids(), candidate_ids()
    return [
        (url("merge"), {"target": s[0], "absorbed": s[1]}),
        (url("split", s[0]), {"articles": article_ids(s[0])[:1]}),
        (url("add/urls"), {"urls": "https://example.org/a"}),
        (url("add/write"), {"new-headline": "H", "new-summary_markdown": "S"}),
        (url("image"), {"image": "none"}),
        (url("image/credit"), {"image_alt": "a", "image_credit": "b", "image_credit_url": ""}),
        (url("fields"), {"date": "2025-06-01", "volume": 1, "number": 7, "intro": "x"}),
        (url("restore"), {"version": 1}),
        (url("send"), {"confirm": "yes"}),
        (url("merge"), {"target": c[0], "absorbed": c[1]}),
    ]


def test_anonymous_users_cannot_reach_the_new_pages_or_actions(demo):
    from django.test import Client

    c = Client()
    progress = c.get(url("send/progress"))
    assert progress.status_code == 302 and progress["Location"].startswith("/accounts/login/")
    before = snapshot()
    for target, data in new_posts():
        response = c.post(target, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), target
    assert snapshot() == before


def test_new_actions_need_a_csrf_token(editor):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    assert c.login(username="ed", password=PASSWORD)
    before = snapshot()
    for target, data in new_posts():
        assert c.post(target, data).status_code == 403, target
        assert c.post(target, {**data, "csrfmiddlewaretoken": "x" * 64}).status_code == 403, target
    assert snapshot() == before
    token = csrf_token(c.get(ISSUE))
    s = selected_ids()
    assert c.post(url("merge"), {"target": s[0], "absorbed": s[1], "csrfmiddlewaretoken": token}).status_code == 303
    assert len(selected_ids()) == 4


def test_an_approved_issue_refuses_every_edit(client):
    from alliance_digest.db.models import IssueEdit

    drafted_version = None
    client.post(url("drop", selected_ids()[0]))  # a change, so that there are versions to restore
    drafted_version = IssueEdit.objects.get(action="drafted").pk
    client.post(url("approve"))
    before = snapshot()
    for target, data in new_posts():
        if target.endswith("/send/"):
            continue
        if target.endswith("/restore/"):
            data = {"version": drafted_version}
        response = client.post(target, data, follow=True)
        assert "frozen and can no longer be edited" in response.content.decode(), target
    assert snapshot() == before
    # approval keeps every history line but drops the versions it made unrestorable (their storage)
    assert IssueEdit.objects.filter(action="drop").exists()
    assert not IssueEdit.objects.filter(snapshot__isnull=False).exists()
    page = client.get(ISSUE).content.decode()
    for form in ("/merge/", "/split/", "/add/urls/", "/image/", "/fields/", "/restore/"):
        assert form not in page, form


# ---- sign-in limits ---------------------------------------------------------------------------------

def test_sign_in_is_blocked_after_repeated_failures(editor):
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_user("other", password=PASSWORD, is_staff=True)
    c = Client()
    for attempt in range(4):
        response = c.post("/accounts/login/", {"username": "ed", "password": f"wrong-{attempt}"})
        assert response.status_code == 200 and "Wrong username or password" in response.content.decode()
        assert 'value="ed"' in response.content.decode()  # the name stays; only the password is typed again
    fifth = c.post("/accounts/login/", {"username": "ED", "password": "wrong-5"})
    assert fifth.status_code == 429 and "Too many failed sign-in attempts" in fifth.content.decode()
    # even the right password is refused now, from this address
    right = c.post("/accounts/login/", {"username": "ed", "password": PASSWORD})
    assert right.status_code == 429 and "_auth_user_id" not in c.session
    # the admin's sign-in is the same page, with the same limit
    admin = c.post("/admin/login/?next=/admin/", {"username": "ed", "password": PASSWORD, "next": "/admin/"})
    assert admin.status_code == 429
    # another address, or another account from this one, is not affected
    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    response = elsewhere.post("/admin/login/?next=/admin/", {"username": "ed", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert Client().post("/accounts/login/", {"username": "other", "password": PASSWORD}).status_code == 302


def test_rate_limit_counts_are_shared_by_every_process(demo, editor):
    """Several web workers must see the same counts: failures counted in another process block here."""
    import subprocess
    import sys

    from django.test import Client

    code = ("import sys; from pathlib import Path; from alliance_digest.workspace import setup_django; "
            "setup_django(Path(sys.argv[1]), migrate=False); "
            "from django.test import RequestFactory; from alliance_digest.editor import ratelimit; "
            "request = RequestFactory().post('/accounts/login/', REMOTE_ADDR='127.0.0.1'); "
            "[ratelimit.failed(request, 'ed') for _ in range(5)]")
    subprocess.run([sys.executable, "-c", code, str(demo)], check=True, timeout=120)
    response = Client().post("/accounts/login/", {"username": "ed", "password": PASSWORD})
    assert response.status_code == 429 and "Too many failed sign-in attempts" in response.content.decode()


# ---- dashboard and front end ------------------------------------------------------------------------

def test_dashboard_lists_failing_and_paused_sources_first(client):
    from django.utils import timezone

    from alliance_digest.db.models import Source

    now = timezone.now()
    Source.objects.all().delete()  # the demo's own (healthy) sources
    Source.objects.create(name="Alpha Wire", url="https://alpha.example/feed", last_success_at=now,
                          last_attempt_at=now)
    Source.objects.create(name="Beta News", url="https://beta.example/feed", consecutive_failures=2,
                          last_error="the server did not answer within 20 seconds", last_attempt_at=now)
    Source.objects.create(name="Gamma Post", url="https://gamma.example/feed", paused_at=now,
                          paused_reason="the server says the feed is gone (410)", consecutive_failures=1)
    text = client.get("/editor/").content.decode()
    table = text.split('class="health"')[1].split("</table>")[0]
    assert table.index("Gamma Post") < table.index("Beta News") < table.index("Alpha Wire")
    assert "paused" in table and "the feed is gone (410)" in table
    assert "failing (2 in a row)" in table and "did not answer within 20 seconds" in table
    assert "2 of 3 failing or paused" in text


def test_htmx_is_vendored_pinned_and_allowed_by_the_csp(client):
    static = ROOT / "src/alliance_digest/editor/static/digest_editor"
    body = (static / "htmx-2.0.11.min.js").read_bytes()
    header, upstream = body.split(b"\n", 1)
    recorded = re.search(r"`([0-9a-f]{64})`", (static / "VENDORED.md").read_text()).group(1)
    assert hashlib.sha256(upstream).hexdigest() == recorded and recorded.encode() in header
    assert b"0BSD" in header and b"htmx 2.0.11" in header

    page = client.get(ISSUE)
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    tag = re.search(r'<script src="(/editor/static/htmx-2\.0\.11\.min\.js)" nonce="([^"]+)"', page.content.decode())
    assert tag and tag.group(2) == nonce
    served = client.get(tag.group(1))
    assert served.status_code == 200 and served.content == body
    assert served["Content-Type"].startswith("text/javascript") and "immutable" in served["Cache-Control"]
    assert client.get("/editor/static/other.js").status_code == 404
    assert '"includeIndicatorStyles": false' in page.content.decode()  # no inline style the CSP would block
