"""The editors' web app: accounts, dashboard, draft editor, previews, approval.

Content comes from the demo workspace (the sample corpus, drafted); pages are
driven with Django's test client, and once end to end in Chromium (Playwright)
against `digest serve` when a browser is available.
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "mauve-harbour-lantern-42"
ISSUE = "/editor/issues/1-1/"


# ---- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo workspace (issue 1.1 drafted: 5 stories, 7 candidates), the test host allowed."""
    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    from django.core.cache import cache  # Django only after the workspace is set up
    from django.test.utils import override_settings

    cache.clear()  # sign-in and form limits start afresh
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        yield home


@pytest.fixture
def editor(demo):
    from django.contrib.auth.models import User

    return User.objects.create_user("ed", email="ed@example.org", password=PASSWORD, is_staff=True)


@pytest.fixture
def client(editor):
    from django.test import Client

    c = Client()
    assert c.login(username="ed", password=PASSWORD)
    return c


def issue():
    from alliance_digest.db.models import Issue

    return Issue.objects.get(volume=1, number=1)


def selected_ids() -> list[int]:
    return list(issue().stories.filter(selected=True).order_by("position").values_list("id", flat=True))


def candidate_ids() -> list[int]:
    return list(issue().stories.filter(selected=False).order_by("position").values_list("id", flat=True))


def snapshot():
    """Everything an action could change."""
    from alliance_digest.db.models import EditorDecision, IssueEdit

    i = issue()
    stories = list(i.stories.order_by("id").values_list("id", "selected", "position", "headline", "summary_markdown"))
    return (i.status, i.frozen, stories, IssueEdit.objects.count(), EditorDecision.objects.count())


def csrf_token(response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert found
    return found.group(1)


def url(action: str, story_id: int | None = None) -> str:
    return f"{ISSUE}stories/{story_id}/{action}/" if story_id is not None else f"{ISSUE}{action}/"


def post_urls() -> list[tuple[str, dict]]:
    s, c = selected_ids(), candidate_ids()
    return [
        (url("drop", s[0]), {}),
        (url("include", c[0]), {}),
        (url("move", s[1]), {"direction": "up"}),
        (url("edit", s[0]), {f"s{s[0]}-headline": "Hacked", f"s{s[0]}-summary_markdown": "Hacked"}),
        (url("reorder"), {"order": ",".join(map(str, reversed(s)))}),
        (url("approve"), {}),
        (url("publish"), {}),
        (url("send-test"), {"email": "someone@example.org"}),
        ("/editor/markdown-preview/", {"markdown": "**x**"}),
    ]


# ---- accounts ---------------------------------------------------------------------------------------

def test_createuser_makes_a_staff_account_that_can_sign_in(demo):
    from django.contrib.auth.models import User
    from django.test import Client

    from alliance_digest.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(demo), "createuser", "alice", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = User.objects.get(username="alice")
    assert user.is_staff and user.check_password(PASSWORD)

    again = runner.invoke(cli, ["--home", str(demo), "createuser", "alice", "--password-stdin"], input="x\n")
    assert again.exit_code != 0 and "already exists" in again.output
    weak = runner.invoke(cli, ["--home", str(demo), "createuser", "bob", "--password-stdin"], input="123\n")
    assert weak.exit_code != 0 and "password rejected" in weak.output
    assert not User.objects.filter(username="bob").exists()
    prompted = runner.invoke(cli, ["--home", str(demo), "createuser", "carol"],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert User.objects.get(username="carol").check_password(PASSWORD)

    c = Client()
    response = c.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/editor/"})
    assert response.status_code == 302 and response["Location"] == "/editor/"
    assert c.cookies["sessionid"]["httponly"]
    assert c.get("/editor/").status_code == 200
    assert Client().post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    out = c.post("/accounts/logout/")
    assert out.status_code == 302
    assert c.get("/editor/").status_code == 302


def test_anonymous_users_are_sent_to_sign_in_and_change_nothing(demo):
    from django.test import Client

    c = Client()
    for page in ("/editor/", ISSUE, ISSUE + "preview/web/", ISSUE + "preview/email/", ISSUE + "preview/text/",
                 ISSUE + "preview/pdf/"):
        response = c.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/accounts/login/?next="), page
    before = snapshot()
    for target, data in post_urls():
        response = c.post(target, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), target
    assert snapshot() == before
    login = c.get("/accounts/login/")
    assert login.status_code == 200 and b'name="password"' in login.content


def test_signed_in_non_editors_are_refused(demo):
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_user("reader", password=PASSWORD)
    c = Client()
    assert c.login(username="reader", password=PASSWORD)
    before = snapshot()
    refused = c.get("/editor/")
    assert refused.status_code == 403
    page = refused.content.decode()
    assert "Editors only" in page and "(reader) is not an editor" in page and "Sign out" in page
    assert c.post(url("drop", selected_ids()[0])).status_code == 403
    assert snapshot() == before


def test_posts_without_or_with_a_forged_csrf_token_are_rejected(editor):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    assert c.login(username="ed", password=PASSWORD)
    page = c.get(ISSUE)
    before = snapshot()
    for target, data in post_urls():
        assert c.post(target, data).status_code == 403, target
        forged = {**data, "csrfmiddlewaretoken": "x" * 64}
        assert c.post(target, forged).status_code == 403, target
        assert c.post(target, data, HTTP_X_CSRFTOKEN="A" * 32).status_code == 403, target
    assert snapshot() == before
    first = selected_ids()[0]
    response = c.post(url("drop", first), {"csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 303
    assert first not in selected_ids()


# ---- pages ------------------------------------------------------------------------------------------

def test_dashboard_shows_the_draft_counts_and_recent_issues(client):
    missing = client.get("/editor/issues/9-9/")
    assert missing.status_code == 404 and "There is no issue at this address" in missing.content.decode()
    response = client.get("/editor/")
    text = response.content.decode()
    assert response.status_code == 200
    assert "Current draft" in text and "Vol: 1.1" in text
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", text))
    assert counts["Selected stories"] == "5" and counts["Candidates"] == "7"
    assert int(counts["Articles in the window"]) >= int(counts["Relevant articles"]) > 5
    assert 'href="/editor/issues/1-1/"' in text and "draft" in text
    assert "Content-Security-Policy" in response and "nonce-" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_editor_page_lists_stories_sources_and_reasons_with_a_nonce_csp(client):
    from alliance_digest.db.models import Story

    response = client.get(ISSUE)
    text = response.content.decode()
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "unsafe-inline" not in csp and "script-src 'nonce-" in csp
    assert all(f'nonce="{nonce}"' in tag for tag in re.findall(r"<script[^>]*>", text))
    assert client.get(ISSUE)["Content-Security-Policy"] != csp  # fresh per response
    stories = list(Story.objects.filter(issue=issue()).order_by("-selected", "position"))
    positions = [text.index(f'id="story-{s.pk}"') for s in stories]
    assert positions == sorted(positions)  # selected in order, then candidates in rank order
    for label in ("Relevance", "Outlets", "Authority", "Recency"):
        assert f"<dt>{label}</dt>" in text
    assert "<strong>" in text  # summaries rendered from Markdown
    assert "Sources (" in text and 'rel="noopener noreferrer"' in text


def test_drop_include_and_move_change_the_order_and_are_recorded(client, editor):
    from alliance_digest.db.models import EditorDecision, IssueEdit

    s, c = selected_ids(), candidate_ids()
    assert client.post(url("drop", s[1])).status_code == 303
    assert selected_ids() == [s[0]] + s[2:]
    assert s[1] in candidate_ids()
    assert client.post(url("include", c[0])).status_code == 303
    assert selected_ids() == [s[0]] + s[2:] + [c[0]]
    response = client.post(url("move", c[0]), {"direction": "up"}, follow=True)
    assert selected_ids() == [s[0], s[2], s[3], c[0], s[4]]
    assert "Moved" in response.content.decode()
    # positions stay dense on both lists
    assert list(issue().stories.filter(selected=True).order_by("position").values_list("position", flat=True)) \
        == [1, 2, 3, 4, 5]
    assert list(issue().stories.filter(selected=False).order_by("position").values_list("position", flat=True)) \
        == list(range(1, 8))
    # moving the first story up is refused, with a message
    refused = client.post(url("move", s[0]), {"direction": "up"}, follow=True)
    assert "already first" in refused.content.decode()
    assert selected_ids()[0] == s[0]

    edits = list(IssueEdit.objects.order_by("at", "id"))
    # the machine's draft is kept as a version (restorable) before the first change
    assert [e.action for e in edits] == ["drafted", "drop", "include", "move"]
    assert edits[0].user is None and edits[0].snapshot
    edits = edits[1:]
    assert all(e.user == editor and e.username == "ed" and e.at and e.snapshot for e in edits)
    decisions = {d.decision: d for d in EditorDecision.objects.all()}
    assert set(decisions) == {"dropped", "included", "reordered"}
    assert decisions["dropped"].story_id == s[1] and decisions["dropped"].position_before == 2
    assert decisions["included"].position_after == 5 and decisions["included"].article_urls
    assert all(u.startswith("https://") for d in decisions.values() for u in d.article_urls)
    assert decisions["dropped"].reasons.get("relevance") is not None

    history = client.get(ISSUE).content.decode().split('id="history"')[1]
    assert history.count("<strong>ed</strong>") == 3
    assert "dropped" in history and "included" in history
    from alliance_digest.db.models import Story

    moved, passed = Story.objects.get(pk=c[0]).headline, Story.objects.get(pk=s[4]).headline
    assert html.escape(f"moved “{moved}” up: #5 → #4 (past “{passed}” #4 → #5)", quote=False) in history


def test_drag_and_drop_order_is_saved(client):
    s = selected_ids()
    response = client.post(url("reorder"), {"order": ",".join(map(str, reversed(s)))})
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert selected_ids() == list(reversed(s))
    stale = client.post(url("reorder"), {"order": ",".join(map(str, s[:3]))})
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert selected_ids() == list(reversed(s))


def test_editing_a_headline_is_saved_and_shown(client):
    from alliance_digest.db.models import IssueEdit, Story

    story = Story.objects.get(pk=selected_ids()[0])
    old = story.headline
    response = client.post(url("edit", story.pk), {
        f"s{story.pk}-headline": "  Allies agree   new command  ",
        f"s{story.pk}-summary_markdown": story.summary_markdown}, follow=True)
    story.refresh_from_db()
    assert story.headline == "Allies agree new command"
    text = response.content.decode()
    assert "Saved." in text and "Allies agree new command" in text
    edit = IssueEdit.objects.get(action="edit")
    assert edit.detail["headline"] == {"before": old, "after": "Allies agree new command"}
    assert "summary" not in edit.detail
    # an empty headline is refused and nothing changes
    bad = client.post(url("edit", story.pk), {f"s{story.pk}-headline": " ",
                                              f"s{story.pk}-summary_markdown": "x"}, follow=True)
    assert "Not saved" in bad.content.decode()
    story.refresh_from_db()
    assert story.headline == "Allies agree new command" and story.summary_markdown != "x"
    # the delivered issue has the new headline
    assert "Allies agree new command" in client.get(ISSUE + "preview/email/").content.decode()


def test_feed_and_editor_text_is_escaped_and_markdown_sanitised(client):
    from alliance_digest.db.models import Story

    story = Story.objects.get(pk=selected_ids()[0])
    evil = '<script>alert("x")</script>'
    refused = client.post(url("edit", story.pk), {
        f"s{story.pk}-headline": evil,
        f"s{story.pk}-summary_markdown": 'Hi <img src=x onerror=alert(1)> [click](javascript:alert(1)) **ok**'},
        follow=True)
    assert "&#x27;javascript:alert(1&#x27; is not a full address" in refused.content.decode() or \
        "is not a full address" in refused.content.decode()
    client.post(url("edit", story.pk), {
        f"s{story.pk}-headline": evil,
        f"s{story.pk}-summary_markdown": 'Hi <img src=x onerror=alert(1)> **ok**'})
    # what the form refuses may still be stored by an import or an older version: rendering sanitises it
    story.refresh_from_db()
    Story.objects.filter(pk=story.pk).update(summary_markdown=story.summary_markdown + " [click](javascript:alert(1))")
    text = client.get(ISSUE).content.decode()
    assert evil not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "onerror" not in text.replace("onerror=alert(1)&gt;", "")  # only as escaped text, never an attribute
    assert "<img src=x" not in text and 'href="javascript:' not in text
    assert "<strong>ok</strong>" in text
    for kind in ("web", "email"):
        delivered = client.get(f"{ISSUE}preview/{kind}/").content.decode()
        assert evil not in delivered and "<img src=x" not in delivered
    preview = client.post("/editor/markdown-preview/", {"markdown": "**b** <script>x</script> [a](javascript:y)"})
    html = preview.json()["html"]
    assert "<strong>b</strong>" in html and "<script>" not in html and "javascript:" not in html


def _form_base(page: str, story_id: int) -> str:
    found = re.search(rf'name="s{story_id}-base" value="([0-9a-f]+)"', page)
    assert found, "the edit form carries the version it started from"
    return found.group(1)


def test_two_editors_saving_one_story_never_undo_each_other(client, editor):
    """B saves a headline while A has the story open; A's later save is refused and A's text is kept."""
    from django.contrib.auth.models import User
    from django.test import Client

    from alliance_digest.db.models import Story

    User.objects.create_user("bo", password=PASSWORD, is_staff=True)
    other = Client()
    assert other.login(username="bo", password=PASSWORD)
    story = Story.objects.get(pk=selected_ids()[2])
    original = story.summary_markdown
    base_a = _form_base(client.get(ISSUE).content.decode(), story.pk)
    base_b = _form_base(other.get(ISSUE).content.decode(), story.pk)
    other.post(url("edit", story.pk), {f"s{story.pk}-headline": "B's better headline",
                                       f"s{story.pk}-summary_markdown": original, f"s{story.pk}-base": base_b})
    mine = original + " A's added sentence."
    response = client.post(url("edit", story.pk), {f"s{story.pk}-headline": story.headline,
                                                   f"s{story.pk}-summary_markdown": mine,
                                                   f"s{story.pk}-base": base_a}, follow=True)
    page = response.content.decode()
    assert "was changed by bo at" in page and "Not saved" in page
    story.refresh_from_db()
    assert story.headline == "B's better headline" and story.summary_markdown == original  # B's change stands
    assert "A&#x27;s added sentence." in page or "A's added sentence." in page  # A's text is still in the form
    # A saves again from the page the refusal showed (A's text, the story as it is now): accepted
    fresh = _form_base(page, story.pk)
    client.post(url("edit", story.pk), {f"s{story.pk}-headline": "B's better headline",
                                        f"s{story.pk}-summary_markdown": mine, f"s{story.pk}-base": fresh})
    story.refresh_from_db()
    assert story.summary_markdown == mine


def test_a_refused_save_or_an_expired_session_keeps_what_was_typed(client, demo):
    from django.test import Client

    from alliance_digest.db.models import Story

    story = Story.objects.get(pk=selected_ids()[0])
    typed = "A long paragraph the editor spent ten minutes on, about the **new command**."
    refused = client.post(url("edit", story.pk), {f"s{story.pk}-headline": "\u200b ",
                                                  f"s{story.pk}-summary_markdown": typed}, follow=True).content.decode()
    assert "a headline needs words" in refused and typed.replace("**", "") in refused.replace("**", "")
    written = client.post(f"{ISSUE}add/write/", {"new-headline": "", "new-summary_markdown": typed}, follow=True)
    assert typed in written.content.decode().replace("&quot;", '"')
    # signed out (session expired) while editing: nothing changes, signing in leads back with the text kept
    from django.conf import settings
    from django.contrib.sessions.models import Session

    stranger = Client()  # no session at all: nothing is kept for it (no session row made by anonymous posts)
    sessions = Session.objects.count()
    stranger.post(url("edit", story.pk), {f"s{story.pk}-headline": "x" * 5000, f"s{story.pk}-summary_markdown": typed})
    assert Session.objects.count() == sessions
    anonymous = Client()
    anonymous.cookies[settings.SESSION_COOKIE_NAME] = "an-expired-session-key"
    response = anonymous.post(url("edit", story.pk), {f"s{story.pk}-headline": "Kept headline",
                                                      f"s{story.pk}-summary_markdown": typed})
    assert response.status_code == 302 and "next=/editor/issues/1-1/" in response["Location"].replace("%2F", "/")
    story.refresh_from_db()
    assert story.headline != "Kept headline"
    login = anonymous.post(response["Location"], {"username": "ed", "password": PASSWORD}, follow=True)
    page = login.content.decode()
    assert "You were signed out before your change was saved" in page
    assert 'value="Kept headline"' in page


def test_invisible_and_direction_changing_characters_are_removed(demo):
    from alliance_digest.editor.forms import StoryForm

    form = StoryForm({"headline": "Allies\u202e agree\u200b", "summary_markdown": "Text\u2066 here\u2069."})
    assert form.is_valid()
    assert form.cleaned_data == {"headline": "Allies agree", "summary_markdown": "Text here.", "base": ""}
    from alliance_digest.editor.forms import IssueFieldsForm

    far = IssueFieldsForm({"date": "9999-12-31", "volume": 1, "number": 1, "intro": ""})
    assert not far.is_valid() and "not a plausible issue date" in str(far.errors)
    picture = StoryForm({"headline": "H", "summary_markdown": "See ![map](https://x.example/map.png)."})
    assert not picture.is_valid() and "pictures inside a story" in str(picture.errors)
    relative = StoryForm({"headline": "H", "summary_markdown": "See [the deal](/2026/11/deal)."})
    assert not relative.is_valid() and "is not a full address" in str(relative.errors)


def test_markdown_nested_too_deep_is_refused_and_never_breaks_a_page(client):
    """A short but deeply nested list made the Markdown parser recurse until every page of the issue failed."""
    from alliance_digest.db.models import Story

    story = Story.objects.get(pk=selected_ids()[0])
    before = story.summary_markdown
    response = client.post(url("edit", story.pk), {f"s{story.pk}-headline": story.headline,
                                                   f"s{story.pk}-summary_markdown": "- " * 500 + "x"}, follow=True)
    assert "nested more than 8 deep" in response.content.decode()
    story.refresh_from_db()
    assert story.summary_markdown == before
    # text already stored (older rows, imports) is shown as plain text, and the pages still render
    Story.objects.filter(pk=story.pk).update(summary_markdown="[" * 3000 + "x" + "]" * 3000)
    assert client.get(ISSUE).status_code == 200
    for kind in ("web", "email", "text"):
        assert client.get(f"{ISSUE}preview/{kind}/").status_code == 200
    preview = client.post("/editor/markdown-preview/", {"markdown": "1. " * 1000 + "x"})
    assert preview.status_code == 200 and "1. 1. 1." in preview.json()["html"]


def test_previews_are_what_will_be_delivered(client):
    import io

    from pypdf import PdfReader

    from alliance_digest import delivery
    from alliance_digest.render import render
    from alliance_digest.render.email import build_email
    from alliance_digest.services import issue_data
    from alliance_digest.web.views import current_profile

    profile = current_profile()
    data = issue_data(issue(), profile)
    web = client.get(ISSUE + "preview/web/")
    assert web.content.decode() == render(data, "html")
    assert "script-src" not in web["Content-Security-Policy"]  # no script at all on previews
    parts = build_email(data, profile, unsubscribe_url=delivery.PLACEHOLDER,
                        web_url="https://digest.example.org/issues/1-1/")
    email = client.get(ISSUE + "preview/email/").content.decode()
    example = "https://digest.example.org/unsubscribe/PERSONAL-LINK/"
    assert email == parts.html.replace(delivery.PLACEHOLDER, example)
    text = client.get(ISSUE + "preview/text/")
    assert text["Content-Type"].startswith("text/plain")
    assert text.content.decode() == f"Subject: {parts.subject}\n\n" + parts.text.replace(delivery.PLACEHOLDER, example)
    pdf = client.get(ISSUE + "preview/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert all(story["headline"] in pdf_text for story in data["stories"])
    # the sample's image hosts do not exist: the PDF comes without the image and says why
    assert "lead image not embedded" in pdf["X-Digest-Notes"]
    assert client.get(ISSUE + "preview/docx/").status_code == 404
    assert client.get("/editor/issues/9-9/").status_code == 404


def test_approve_freezes_the_issue_and_edits_are_refused(client, editor):
    from alliance_digest.db.models import EditorDecision, Story

    s, c = selected_ids(), candidate_ids()
    response = client.post(url("approve"), follow=True)
    assert "Approved issue 1.1" in response.content.decode()
    approved = issue()
    assert approved.status == "approved" and approved.approved_by == "ed" and approved.frozen
    assert EditorDecision.objects.filter(decision="approved").count() == 5

    before = snapshot()
    story = Story.objects.get(pk=s[0])
    for target, data in [(url("drop", s[0]), {}), (url("include", c[0]), {}),
                         (url("move", s[1]), {"direction": "up"}),
                         (url("edit", s[0]), {f"s{s[0]}-headline": "Changed", f"s{s[0]}-summary_markdown": "x"}),
                         (url("approve"), {})]:
        response = client.post(target, data, follow=True)
        assert "frozen and can no longer be edited" in response.content.decode(), target
    reorder = client.post(url("reorder"), {"order": ",".join(map(str, reversed(s)))})
    assert reorder.status_code == 409 and "frozen" in reorder.json()["error"]
    assert snapshot() == before
    story.refresh_from_db()
    assert story.headline != "Changed"
    page = client.get(ISSUE).content.decode()
    assert 'id="frozen"' in page and 'id="approve"' not in page and "/drop/" not in page
    assert "approved with 5 stories" in page


def test_publish_puts_an_approved_issue_on_the_archive_and_is_refused_for_a_draft(client, editor, demo):
    from django.test import Client

    from alliance_digest.db.models import IssueEdit

    draft_page = client.get(ISSUE).content.decode()
    assert 'id="publish-button"' not in draft_page and "Approve the issue first" in draft_page
    before = snapshot()
    refused = client.post(url("publish"), follow=True)
    assert "Issue 1.1 is not approved: it is a draft" in refused.content.decode()
    assert snapshot() == before and issue().published_at is None
    assert client.get("/issues/1-1/").status_code == 404
    assert client.get(url("publish")).status_code == 405  # POST only

    client.post(url("approve"))
    approved_page = client.get(ISSUE).content.decode()
    assert 'id="publish-button"' in approved_page and 'id="published"' not in approved_page
    response = client.post(url("publish"), follow=True)
    text = response.content.decode()
    published = issue()
    assert published.status == "published" and published.published_at
    assert "Published issue 1.1" in text
    assert 'id="published"' in text and 'id="publish-button"' not in text
    assert re.search(r'href="[^"]*/issues/1-1/" id="permalink">view it</a>', text)
    assert "published on the public archive" in text.split('id="history"')[1]
    record = IssueEdit.objects.get(action="publish")
    assert record.user == editor and record.detail["permalink"].endswith("/issues/1-1/")

    public = Client()
    archive = public.get("/issues/")
    assert archive.status_code == 200 and "/issues/1-1/" in archive.content.decode()
    assert public.get("/issues/1-1/").status_code == 200

    # the PDF edition was made in the background at publishing: the first reader is served that file
    from alliance_digest import publishing

    publishing.wait_for_pdf_editions()
    made = sorted((demo / "cache" / "pdf").glob("issue-1-1-*.pdf"))
    assert len(made) == 1, made
    stamp = made[0].stat().st_mtime_ns
    pdf = public.get("/issues/1-1.pdf")
    assert pdf.status_code == 200 and pdf.content == made[0].read_bytes()
    assert made[0].stat().st_mtime_ns == stamp

    again = snapshot()
    twice = client.post(url("publish"), follow=True)
    assert "already published" in twice.content.decode()
    assert snapshot() == again


def test_send_test_email_reports_an_unreachable_server_and_sends_otherwise(client, demo):
    from smtp_sink import SmtpSink, free_port

    from alliance_digest.db.models import IssueEdit

    profile = demo / "digest.toml"
    text = profile.read_text("utf-8")
    text = re.sub(r'(?m)^smtp_host = .*$', 'smtp_host = "127.0.0.1"', text)
    text = re.sub(r'(?m)^smtp_security = .*$', 'smtp_security = "none"', text)
    profile.write_text(re.sub(r'(?m)^smtp_port = .*$', f"smtp_port = {free_port()}", text), "utf-8")
    response = client.post(url("send-test"), {"email": "desk@example.org"}, follow=True)
    page = response.content.decode()
    assert "Test email not sent:" in page
    assert IssueEdit.objects.get(action="test_send").detail["error"]

    bad = client.post(url("send-test"), {"email": "desk@example,org"}, follow=True)
    assert "Test email not sent" in bad.content.decode()
    assert 'value="desk@example,org"' in bad.content.decode()  # kept to correct, not retyped

    with SmtpSink() as sink:
        time.sleep(0.01)
        profile.write_text(re.sub(r'(?m)^smtp_port = .*$', f"smtp_port = {sink.port}", text), "utf-8")
        os.utime(profile, ns=(time.time_ns(), time.time_ns() + 10**9))  # the profile is re-read on change
        ok = client.post(url("send-test"), {"email": "desk@example.org"}, follow=True)
        assert "Test email sent to desk@example.org" in ok.content.decode()
        messages = sink.recorder.parsed()
    assert len(messages) == 1 and messages[0]["Subject"].startswith("[TEST]")
    assert issue().status == "draft"


# ---- in a browser ------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(editor, demo):
    """`digest serve` on the demo workspace, in its own process."""
    port = _free_port()
    env = {**os.environ, "DIGEST_HOME": str(demo)}
    proc = subprocess.Popen([sys.executable, "-m", "alliance_digest", "--home", str(demo), "serve",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"digest serve did not start: {out[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _db(fn):
    """Run a query from a thread of its own: Playwright's sync API keeps an event loop in this one."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def call():
        try:
            return fn()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _goto(page, url: str) -> None:
    """Navigate, retrying when a reload the page started itself interrupts the navigation."""
    for attempt in range(3):
        try:
            page.goto(url)
            page.wait_for_load_state()
            return
        except Exception as exc:  # playwright's Error: "interrupted by another navigation", ERR_ABORTED
            if attempt == 2 or not any(s in str(exc) for s in ("interrupted", "ERR_ABORTED", "navigation")):
                raise
            page.wait_for_load_state()


def _eventually(check, seconds: float = 10.0) -> bool:
    """Poll ``check`` until true: the page can change before its request is stored."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_editing_in_a_browser(served):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    from alliance_digest.db.models import IssueEdit, Story

    ARTIFACTS.mkdir(exist_ok=True)
    s, c = selected_ids(), candidate_ids()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            script_errors: list[str] = []
            page.on("pageerror", lambda e: script_errors.append(str(e)))
            _goto(page, served + ISSUE)
            assert "/accounts/login/" in page.url
            page.fill("#id_username", "ed")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(served + ISSUE)
            page.screenshot(path=str(ARTIFACTS / "editor-1-draft.png"), full_page=True)

            page.click(f"#story-{s[1]} button.danger")  # drop
            page.wait_for_selector(f"#candidate-list #story-{s[1]}")
            page.click(f"#story-{c[0]} .tools button")  # include
            page.wait_for_selector(f"#selected-list #story-{c[0]}")
            page.focus(f"#story-{c[0]} button[aria-label$='up']")  # move up, from the keyboard
            page.keyboard.press("Enter")
            page.wait_for_load_state()
            page.wait_for_function(
                "id => document.querySelectorAll('#selected-list > li')[3].id === 'story-' + id", arg=c[0])
            assert _eventually(lambda: _db(selected_ids) == [s[0], s[2], s[3], c[0], s[4]])

            page.click(f"#story-{s[0]} details.editform summary")
            page.fill(f"#id_s{s[0]}-headline", "Browser-edited headline")
            page.fill(f"#id_s{s[0]}-summary_markdown", "A **bold** preview")
            page.wait_for_function(
                "id => document.getElementById('md-preview-' + id).innerHTML.includes('<strong>bold</strong>')",
                arg=s[0])
            page.click(f"#story-{s[0]} details.editform button.primary")
            page.wait_for_selector("text=Saved.")
            assert page.inner_text(f"#story-{s[0]} h3") == "Browser-edited headline"
            page.screenshot(path=str(ARTIFACTS / "editor-2-edited.png"), full_page=True)

            # drag the last story onto the first: the new order is posted and the page reloads
            page.set_viewport_size({"width": 1200, "height": 4000})  # both ends of the drag on screen
            page.evaluate("window.scrollTo(0, 0)")  # and away from the edges, where dragging scrolls the page
            handle = page.locator(f"#story-{s[4]} .handle").bounding_box()
            target = page.locator(f"#story-{s[0]}").bounding_box()
            page.mouse.move(handle["x"] + 3, handle["y"] + 3)
            page.mouse.down()
            page.mouse.move(target["x"] + 20, target["y"] + 8, steps=10)
            page.mouse.move(target["x"] + 22, target["y"] + 9, steps=2)
            page.mouse.up()
            page.wait_for_function(
                "id => document.querySelector('#selected-list > li').id === 'story-' + id", arg=s[4])
            # the list moves on screen at once; the new order is saved by a request: wait for it
            assert _eventually(lambda: _db(selected_ids)[0] == s[4])
            page.wait_for_load_state("networkidle")  # the reload after the drop, before navigating away

            # merge two stories, then undo it by restoring the version before the merge from the history
            _goto(page, served + ISSUE)
            page.select_option("#merge-target", str(s[4]))
            page.select_option("#merge-absorbed", str(s[2]))
            page.click("#merge-button")
            page.wait_for_selector("text=Merged")
            assert _eventually(lambda: s[2] not in _db(selected_ids))
            page.click("ul.history form button")  # the newest earlier version: just before the merge
            page.wait_for_selector("text=Restored the version")
            assert _eventually(lambda: _db(selected_ids)[:1] == [s[4]] and s[2] in _db(selected_ids))

            # draft again: the button says it is busy (and cannot be pressed twice), the editors' work stays
            busy = page.evaluate("""() => {
                const form = document.getElementById('redraft').form;
                form.addEventListener('submit', e => e.preventDefault());
                form.requestSubmit();
                return new Promise(done => setTimeout(() => {
                    const b = document.getElementById('redraft'); done([b.textContent, b.disabled]); }, 50));
            }""")
            assert busy == ["Drafting again…", True], busy
            _goto(page, served + ISSUE)
            page.click("#redraft")
            page.wait_for_selector("text=Drafted again from the window")
            assert page.inner_text(f"#story-{s[0]} h3") == "Browser-edited headline"
            assert _db(selected_ids)[:1] == [s[4]] and s[2] in _db(selected_ids)

            _goto(page, served + ISSUE + "preview/email/")
            assert "Browser-edited headline" in page.content()
            page.screenshot(path=str(ARTIFACTS / "editor-3-email-preview.png"), full_page=True)

            _goto(page, served + ISSUE)
            page.click("#approve")
            page.wait_for_selector("#frozen")
            page.screenshot(path=str(ARTIFACTS / "editor-4-approved.png"), full_page=True)

            page.click("#publish-button")
            page.wait_for_selector("#published")
            page.wait_for_load_state()
            assert _eventually(lambda: _db(lambda: issue().status) == "published")
            permalink = page.get_attribute("#permalink", "href")
            assert permalink and permalink.endswith("/issues/1-1/")
            path = "/issues/1-1/"  # the permalink's host is the profile's site_url: read it from this server

            _goto(page, served + path)
            page.wait_for_selector("text=Browser-edited headline")
            assert "Browser-edited headline" in page.content()
            page.screenshot(path=str(ARTIFACTS / "public-issue.png"), full_page=True)

            _goto(page, served + "/issues/")
            assert f'href="{path}"' in page.content() or permalink in page.content()
            assert "Browser-edited headline" in page.content()

            feed = page.request.get(served + "/feed.atom")
            assert feed.ok, feed.status
            assert permalink in feed.text()
            assert not [e for e in errors if "Content Security Policy" in e], errors
            assert not script_errors, script_errors
        finally:
            browser.close()
    assert issue().status == "published"
    assert Story.objects.get(pk=s[0]).headline == "Browser-edited headline"
    assert set(IssueEdit.objects.values_list("action", flat=True)) >= {"drop", "include", "move", "edit",
                                                                         "reorder", "merge", "restore",
                                                                         "redrafted", "approve", "publish"}


AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"


def test_pages_pass_the_axe_accessibility_rules(served):
    """axe-core's WCAG rules on the editors' pages (sign-in, dashboard, draft with its forms open)
    and the public ones (archive, subscribe, not found): no violation of any impact."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    script = AXE.read_text("utf-8")
    run_axe = ("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
               ".map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes[0].html.slice(0, 120)})`)")
    found: dict[str, list[str]] = {}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)  # to inject axe

            def check(path: str, prepare=None) -> None:
                _goto(page, served + path)
                if prepare:
                    prepare()
                page.add_script_tag(content=script)
                found[path] = page.evaluate(run_axe)

            for path in ("/accounts/login/", "/", "/subscribe/", "/issues/9-9/"):
                check(path)
            _goto(page, served + "/accounts/login/")
            page.fill("#id_username", "ed")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(served + "/editor/")
            check("/editor/")
            check(ISSUE, lambda: page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)"))
        finally:
            browser.close()
    assert len(found) == 6 and all(v == [] for v in found.values()), found


def test_the_lead_image_follows_the_top_story(client):
    from alliance_digest.db.models import Issue

    def image_of_top():
        top = Issue.objects.get(pk=issue().pk).stories.filter(selected=True).order_by("position").first()
        return {l.article.image_url for l in top.storyarticle_set.select_related("article") if l.article.image_url}

    before = Issue.objects.get(pk=issue().pk).image_url
    assert before in image_of_top()
    response = client.post(url("drop", selected_ids()[0]), {"csrfmiddlewaretoken": csrf_token(client.get(ISSUE))})
    assert response.status_code in (200, 302, 303)
    after = Issue.objects.get(pk=issue().pk)
    assert after.image_url != before and after.image_url in image_of_top()
    assert after.image_credit and after.image_credit_url.startswith("https://")
