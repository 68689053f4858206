"""Drafting a window again: the editors' merges, splits, selection and text survive new coverage."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alliance_digest.pipeline.compose import Window, compose
from alliance_digest.pipeline.corrections import Corrections, split_cluster
from alliance_digest.pipeline.ranking import Weights
from alliance_digest.pipeline.records import StoryArticle

from conftest import EDITOR_PASSWORD as PASSWORD, demo_with_editor

DAY0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def _article(pk: int, title: str, text: str, hours: int, source: str) -> StoryArticle:
    return StoryArticle(id=pk, url=f"https://{source.lower()}.example/{pk}", title=title, text=text,
                        source=source, published=DAY0 + timedelta(hours=hours), relevance=0.9)


PACT = [
    _article(1, "US and Japan sign missile defence pact in Tokyo",
             "The United States and Japan signed a missile defence pact in Tokyo. The pact covers joint "
             "interceptor production worth $3 billion, ministers said.", 0, "Harbor"),
    _article(2, "Japan, US agree $3 billion interceptor pact",
             "Japan and the United States agreed a $3 billion pact on joint interceptor production, "
             "ministers said in Tokyo.", 3, "Coast"),
]
CHIPS = [
    _article(3, "Japanese chipmaker Kiso to build Arizona plant",
             "Kiso Semiconductor will build a $7 billion plant in Arizona, the Japanese chipmaker said, "
             "the largest Japanese investment in US chips this year.", 400, "Harbor"),
    _article(4, "Kiso picks Arizona for $7 billion US chip plant",
             "Japan's Kiso Semiconductor chose Arizona for a $7 billion chip plant in the United States.",
             403, "Coast"),
]


FILLER = [_article(100 + k, f"{topic} report number {k}", f"A {topic.lower()} story about {place} and its people.",
                   k * 5, "Daily") for k, (topic, place) in enumerate(
    [("Weather", "Ohio"), ("Football", "Madrid"), ("Bakery", "Lyon"), ("Election", "Peru"), ("Flood", "Kenya"),
     ("Museum", "Oslo"), ("Railway", "India"), ("Festival", "Brazil"), ("Wildfire", "Greece"), ("Harvest", "Iowa")])]
for _filler in FILLER:
    _filler.relevance = 0.0


def _stories(pairs=None, groups=None) -> list[set[int]]:
    comp = compose(PACT + CHIPS + FILLER, Window(date(2026, 3, 1), date(2026, 3, 14)), 5, Weights(), 0.35, 0.18,
                   corrections=Corrections(pairs, groups))
    return [{a.id for a in story.articles} for story in comp.selected + comp.candidates]


def test_compose_keeps_apart_what_an_editor_split_and_together_what_an_editor_merged():
    assert sorted(map(sorted, _stories())) == [[1, 2], [3, 4]]  # the machine's own grouping
    parted = _stories({(1, 2): False})
    assert not any({1, 2} <= story for story in parted)
    assert sorted(a for story in parted for a in story) == [1, 2, 3, 4]  # nothing lost
    assert _stories({(1, 3): True}) == [{1, 2, 3, 4}]  # one story: the editor said so
    # a reviewed draft's stories are groups: what the editors left apart stays apart, and a
    # newly arrived article still joins the story it belongs to
    assert sorted(map(sorted, _stories(groups={1: 10, 3: 20}))) == [[1, 2], [3, 4]]
    assert sorted(map(sorted, _stories(groups={1: 10, 2: 20}))) == [[1], [2], [3, 4]]
    # a group judgement comes before an older pair judgement
    assert sorted(map(sorted, _stories({(1, 2): False}, groups={1: 10, 2: 10}))) == [[1, 2], [3, 4]]


def test_split_cluster_puts_the_editors_sides_apart_and_the_rest_where_it_fits():
    rules = Corrections({(1, 2): False, (1, 3): True})
    parts = split_cluster([1, 2, 3, 4], rules, lambda a, part: 1.0 if 2 in part else 0.0)
    assert parts == [[1, 3], [2, 4]]
    assert split_cluster([1, 3, 4], rules, lambda a, part: 0.0) == [[1, 3, 4]]  # nothing parted: whole
    assert rules.must_join([1], [3]) and not rules.may_join([1, 4], [2]) and rules.may_join([3], [4])
    reviewed = Corrections(groups={1: 7, 2: 7, 3: 8})
    assert reviewed.must_join([1], [2, 5]) and not reviewed.may_join([1, 5], [3]) and reviewed.may_join([3], [5])
    assert split_cluster([1, 3, 5], reviewed, lambda a, part: 1.0 if 3 in part else 0.0) == [[1], [3, 5]]


# ---- the workspace: `digest draft --replace` and the web app's "Draft again" -------------------------

def _late_items(path: Path, end: date, lead_article) -> str:
    """Two reports of a new event, and a third report of the lead story's event."""
    stamp = f"{end.isoformat()}T08:00:00Z"
    items = [
        {"url": "https://late-wire.example/1", "title": "Japan and US to build Glide Phase Interceptor together",
         "text": "Japan and the United States will jointly build the Glide Phase Interceptor, a missile meant to "
                 "stop hypersonic weapons, defense ministers said in Tokyo. The Glide Phase Interceptor programme "
                 "will cost $5 billion, split between the two allies.", "published": stamp, "source": "Late Wire"},
        {"url": "https://other-wire.example/2", "title": "US, Japan split $5 bln cost of Glide Phase Interceptor",
         "text": "The United States and Japan will split the $5 billion cost of the Glide Phase Interceptor, a "
                 "missile to stop hypersonic weapons, officials in Tokyo said.", "published": stamp,
         "source": "Other Wire"},
        {"url": "https://third-wire.example/3", "title": lead_article.title,
         "text": "From our correspondent in Tokyo. " + lead_article.text, "published": stamp,
         "source": "Third Wire"},
    ]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    return str(path)


@pytest.fixture
def worked(tmp_path):
    """The demo draft after an editor's session: story 1's headline rewritten, story 5 dropped, the first
    candidate merged into story 2, one article split out of story 3; then new coverage arrives."""
    from alliance_digest.demo import sample_window
    demo = demo_with_editor(tmp_path)
    from alliance_digest.editor import actions  # Django only after the workspace is set up

    home, profile, user, issue = demo["home"], demo["profile"], demo["user"], demo["issue"]
    sel, cand = demo["selected"], demo["candidates"]
    actions.edit(issue, sel[0].pk, "Editors' own headline", sel[0].summary_markdown, user)
    actions.drop(issue, sel[4].pk, user)
    absorbed = actions._article_urls(cand[0])
    actions.merge(profile, issue, sel[1].pk, cand[0].pk, user)
    third = sel[2].storyarticle_set.order_by("position")
    split_out = third.first().article
    actions.split(profile, issue, sel[2].pk, [split_out.pk], user)
    lead = sel[0].storyarticle_set.order_by("position").first().article
    start, end = sample_window()
    return {"home": home, "profile": profile, "user": user, "issue": issue, "start": start, "end": end,
            "sel": sel, "absorbed": absorbed, "split_out": split_out, "lead": lead, "tmp": tmp_path}


def _state(issue):
    return [(s.pk, s.selected, s.position, s.headline,
             sorted(s.storyarticle_set.values_list("article__canonical_url", flat=True)))
            for s in issue.stories.order_by("-selected", "position")]


def test_redraft_keeps_the_editors_work_and_offers_new_coverage_as_candidates(worked, cli):
    from alliance_digest.db.models import EditorDecision, Issue, IssueEdit
    from alliance_digest.editor import actions

    home, issue = worked["home"], worked["issue"]
    before = _state(issue)
    decisions = EditorDecision.objects.count()
    late = _late_items(worked["tmp"] / "late.jsonl", worked["end"], worked["lead"])
    assert cli(home, "ingest", late).exit_code == 0

    result = cli(home, "draft", "--start", str(worked["start"]), "--end", str(worked["end"]), "--replace")
    assert result.exit_code == 0, result.output
    assert "redrafted issue 1.1" in result.output and "1 new among the candidates" in result.output
    assert "new candidate: " in result.output and "glide phase interceptor" in result.output.lower()

    after = Issue.objects.get(pk=issue.pk)  # the same issue: number, history and decisions kept
    assert (after.volume, after.number) == (1, 1)
    assert EditorDecision.objects.count() == decisions
    selected = list(after.stories.filter(selected=True).order_by("position"))
    old_selected = [row for row in before if row[1]]
    # the editors' selection and order are untouched; story 5 stays dropped
    assert [s.pk for s in selected] == [row[0] for row in old_selected]
    dropped = worked["sel"][4]
    assert not after.stories.get(pk=dropped.pk).selected
    # the rewritten headline stays, and the third report of its event joined its sources
    lead = selected[0]
    assert lead.headline == "Editors' own headline"
    urls = set(lead.storyarticle_set.values_list("article__canonical_url", flat=True))
    assert "https://third-wire.example/3" in urls and urls > set(old_selected[0][4])
    # the merge holds: story 2 still holds the absorbed candidate's articles (without the
    # merge, the machine's grouping puts them back in a story of their own)
    assert sorted(selected[1].storyarticle_set.values_list("article__canonical_url", flat=True)) == old_selected[1][4]
    assert set(worked["absorbed"]) < set(old_selected[1][4])
    # the split holds: the article split out is not back in its old story
    split_out = worked["split_out"]
    assert not selected[2].storyarticle_set.filter(article=split_out).exists()
    assert after.stories.filter(storyarticle__article=split_out).count() == 1
    # the new event is a marked candidate at the top, not a selected story
    top = after.stories.filter(selected=False).order_by("position").first()
    assert "interceptor" in top.headline.lower() and top.reasons.get("new_in_redraft")
    # the state before is a version in the history, and restoring it undoes the redraft
    redrafted = after.edits.first()
    assert redrafted.action == IssueEdit.Action.REDRAFTED and "1 new among the candidates" in actions.describe(redrafted)
    version = after.edits.filter(snapshot__isnull=False).exclude(pk=redrafted.pk).first()
    actions.restore(after, version.pk, worked["user"])
    assert [row[1:] for row in _state(after)] == [row[1:] for row in before]


def test_an_untouched_draft_is_drafted_again_from_scratch_in_place(tmp_path, cli):
    from alliance_digest.demo import run_demo, sample_window

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    from alliance_digest.db.models import Issue, IssueEdit

    issue = Issue.objects.get(volume=1, number=1)
    lead = issue.stories.get(selected=True, position=1).storyarticle_set.order_by("position").first().article
    start, end = sample_window()
    late = _late_items(tmp_path / "late.jsonl", end, lead)
    assert cli(home, "ingest", late).exit_code == 0
    result = cli(home, "draft", "--start", str(start), "--end", str(end), "--replace")
    assert result.exit_code == 0 and result.output.startswith("redrafted issue 1.1"), result.output
    after = Issue.objects.get(pk=issue.pk)
    assert after.edits.first().action == IssueEdit.Action.REDRAFTED
    stories = list(after.stories.all())
    assert not any(s.reasons.get("new_in_redraft") for s in stories)  # the machine's draft, nothing to mark
    assert any("interceptor" in s.headline.lower() for s in stories)


def test_the_web_app_drafts_again_and_marks_what_is_new(worked):
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    from alliance_digest import services

    cache.clear()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client()
        assert client.login(username="ed", password=PASSWORD)
        page = client.get("/editor/issues/1-1/").content.decode()
        assert "No article arrived in this window since it was drafted" in page and 'id="redraft"' in page
        late = _late_items(worked["tmp"] / "late.jsonl", worked["end"], worked["lead"])
        services.ingest([(late, "jsonl", None)], worked["profile"])
        page = client.get("/editor/issues/1-1/").content.decode()
        assert "3 articles (3 relevant) arrived in this window" in page
        assert '<dd id="arrived-count">3 (3 relevant)</dd>' in client.get("/editor/").content.decode()
        done = client.post("/editor/issues/1-1/redraft/", follow=True).content.decode()
        assert "Drafted again from the window&#x27;s coverage" in done and "1 new among the candidates" in done
        assert 'class="badge new"' in done
        assert "No article arrived in this window since it was drafted" in done
        history = done[done.index('id="history"'):]
        assert "drafted again from the window" in history


def test_a_change_made_while_the_window_is_composed_is_not_undone(worked, cli, monkeypatch):
    """An editor merges two stories while `draft --replace` is composing: the redraft gives way."""
    from alliance_digest import services
    from alliance_digest.editor import actions

    issue, sel = worked["issue"], worked["sel"]
    real = services.compose_window

    def compose_then_an_editor_acts(*args, **kwargs):
        composition = real(*args, **kwargs)
        actions.merge(worked["profile"], issue, sel[0].pk, sel[3].pk, worked["user"])
        return composition

    monkeypatch.setattr(services, "compose_window", compose_then_an_editor_acts)
    before_merge = set(sel[0].storyarticle_set.values_list("article_id", flat=True))
    result = cli(worked["home"], "draft", "--start", str(worked["start"]), "--end", str(worked["end"]), "--replace")
    assert result.exit_code == 1 and "was changed while it was being drafted again" in result.stderr
    assert issue.edits.first().action == "merge"  # no redraft recorded after the editor's merge
    merged = set(issue.stories.get(pk=sel[0].pk).storyarticle_set.values_list("article_id", flat=True))
    assert merged > before_merge  # the merge stands
