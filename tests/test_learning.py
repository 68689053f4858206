"""`digest learn`: a relevance model trained on editors' labels, stored as JSON, used and explained."""

from __future__ import annotations

import json
from datetime import date

import pytest

from conftest import write

# Our own small labelled examples (fictional): (title, text, label).
CORE = [
    ("Tokyo and Washington agree to pool shipyard capacity",
     "Japanese and American officials agreed to pool shipyard capacity for naval repairs, a step both "
     "governments called overdue."),
    ("US envoy presses Japan on shipyard investment",
     "The American ambassador urged Japanese firms to invest in shipyard upgrades in the United States."),
    ("Japan pledges shipyard funds after talks in Washington",
     "Japan will fund shipyard upgrades, its trade minister said after talks with US officials."),
    ("American destroyers to be repaired at Japanese shipyard",
     "The Pentagon said US Navy destroyers will be repaired at a shipyard near Yokosuka under a new deal."),
    ("Japanese shipbuilders eye US shipyard deals",
     "Executives from Japan met American officials to discuss shipyard joint ventures."),
]
RELATED = [
    ("South Korea weighs joining US-Japan shipyard pact",
     "Seoul is considering joining the shipyard arrangement agreed by Washington and Tokyo."),
    ("Philippine navy seeks shipyard help from allies",
     "Manila asked the United States and Japan for shipyard support for its patrol vessels."),
    ("Australia studies allied shipyard network",
     "Canberra is studying how a shipyard network with the US and Japan could speed repairs."),
]
NOT_FOR_THE_DIGEST = [
    ("Tokyo bakery wins national bread contest", "A small bakery in Tokyo won the national bread contest."),
    ("Festival draws record crowds in Osaka", "The summer festival in Osaka drew record crowds."),
    ("Chef opens noodle museum in Kyoto", "A chef opened a museum of noodles in Kyoto on Sunday."),
    ("Heavy snow disrupts trains in Hokkaido", "Heavy snow disrupted trains across Hokkaido overnight."),
    ("US retailer reports holiday sales rise", "An American retailer reported higher holiday sales."),
    ("American farmers brace for dry summer", "Farmers in the American Midwest are bracing for a dry summer."),
    ("Pop group announces reunion tour", "A Japanese pop group announced a reunion tour of concert halls."),
    ("City opens new riverside park", "The city opened a riverside park with gardens and playgrounds."),
    ("Museum shows paintings of the sea", "A museum exhibition shows paintings of the sea and harbours."),
    ("Currency desk: Japan inflation and US jobs data in focus",
     "On the currency desk, traders look to Japan inflation figures and US jobs data; they expect calm."),
    ("Currency desk: US retail sales, Japan trade figures",
     "At the currency desk, investors watch US retail sales and Japan trade figures for the dollar and yen."),
    ("Currency desk: Tokyo prices and Washington budget talks",
     "The currency desk weighs Tokyo price data and budget talks in Washington; traders stay cautious."),
    ("Currency desk: Bank of Japan meeting and US factory data",
     "Traders on the currency desk watch the Bank of Japan meeting and US factory data for the yen."),
    ("Currency desk: Japanese wages, American housing starts",
     "Japanese wage figures and American housing starts lead the currency desk's notes for bond traders."),
]


def _examples():
    from alliance_digest.pipeline.learned import Example

    return ([Example(t, x, 2) for t, x in CORE] + [Example(t, x, 1) for t, x in RELATED]
            + [Example(t, x, 0) for t, x in NOT_FOR_THE_DIGEST])


@pytest.fixture
def rules():
    import tomllib

    from alliance_digest.pipeline.relevance import RelevanceScorer
    from alliance_digest.profile import default_profile_text, parse_profile

    return RelevanceScorer(parse_profile(tomllib.loads(default_profile_text())).topic)


@pytest.fixture
def model(rules):
    from alliance_digest.pipeline.learned import RelevanceModel

    return RelevanceModel.train(_examples(), rules)


PROBES = [
    ("Officials discuss shipyard plan", "Officials met to discuss a shipyard plan for the coming years."),
    ("US and Japan sign alliance pact in Tokyo", "The United States and Japan signed a defense alliance pact."),
    ("Bakery opens second shop", "The bakery opened a second shop near the station."),
    ("", ""),
]


def test_save_and_load_round_trip_identically(model, rules, tmp_path):
    from alliance_digest.pipeline.learned import RelevanceModel

    path = tmp_path / "relevance_model.json"
    model.save(path)
    loaded = RelevanceModel.load(path)
    assert loaded.to_dict() == model.to_dict()
    assert loaded.dumps() == path.read_text("utf-8")  # saving again changes nothing
    for title, body in PROBES:
        rule_score = rules.score(title, body).score
        assert loaded.predict(title, body, rule_score) == model.predict(title, body, rule_score)
    data = json.loads(path.read_text("utf-8"))  # plain JSON, no pickle
    assert data["format"] == "alliance-digest-relevance-model/1"
    assert data["counts"] == {"examples": 22, "positive": 8, "negative": 14, "core": 5, "related": 3,
                              "features": len(data["vocabulary"])}
    assert data["created"] and data["intercept"] and data["rule_coefficients"]["(rule score)"]
    assert all(len(row) == 3 for row in data["vocabulary"])


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    from alliance_digest.pipeline.learned import RelevanceModel

    path = write(tmp_path / "other.json", json.dumps({"format": "something-else", "vocabulary": []}))
    with pytest.raises(ValueError, match="not a relevance model"):
        RelevanceModel.load(path)


def test_training_and_predictions_are_deterministic(model, rules):
    from alliance_digest.pipeline.learned import RelevanceModel

    again = RelevanceModel.train(_examples(), rules)
    first, second = model.to_dict(), again.to_dict()
    first.pop("created"), second.pop("created")
    assert first == second
    for title, body in PROBES:
        rule_score = rules.score(title, body).score
        p, why = model.predict(title, body, rule_score)
        assert 0.0 <= p <= 1.0
        assert (p, why) == model.predict(title, body, rule_score) == again.predict(title, body, rule_score)


def test_the_explanation_names_the_words_that_drove_the_score(model, rules):
    title, body = PROBES[0]  # no country named: the rules see nothing, the model knows "shipyard"
    assert rules.score(title, body).score == 0.0
    p, why = model.predict(title, body, 0.0)
    assert p > 0.5
    assert why["probability"] == round(p, 4)
    top_word, weight = next(iter(why["words"].items()))
    assert top_word == "shipyard" and weight > 0
    p_bakery, why_bakery = model.predict(*PROBES[2], 0.0)
    assert p_bakery < 0.5 and min(why_bakery["words"].values()) < 0
    positive, negative = model.top_features(5)
    assert "shipyard" in [w for w, _ in positive]
    assert all(v > 0 for _, v in positive) and all(v < 0 for _, v in negative)


def test_learned_scorer_blends_and_explains(model, rules):
    from alliance_digest.pipeline.learned import LearnedScorer, blend

    scorer = LearnedScorer(rules, model)
    threshold = rules.topic.threshold
    # a clear rule hit the model does not reject keeps its rule score
    hit = scorer.score(*PROBES[1])
    assert hit.score == rules.score(*PROBES[1]).score >= threshold
    assert hit.model["rule_score"] == hit.score and hit.model["probability"] > 0.1
    why = hit.explanation()
    assert why["model"]["words"] and why["entities"] == rules.score(*PROBES[1]).entities
    # an item only the model likes rises towards the threshold, never to it
    found = scorer.score(*PROBES[0])
    assert 0.5 * threshold < found.score < threshold
    assert "shipyard" in found.explanation()["model"]["words"]
    # a kind of rule hit the editors keep dropping is pushed down
    title, body = ("Currency desk: US jobs data and Tokyo prices in focus",
                   "On the currency desk, traders watch US jobs data and Tokyo price figures; markets expect calm.")
    dropped = scorer.score(title, body)
    assert rules.score(title, body).score >= threshold and dropped.model["probability"] < 0.1
    assert dropped.score < rules.score(title, body).score
    assert dropped.model["words"]["currency desk"] < 0
    # the blend itself
    assert blend(0.6, 0.5, 0.35) == 0.6
    assert blend(0.0, 1.0, 0.35) == pytest.approx(0.9 * 0.35)
    assert blend(0.6, 0.0, 0.35) == pytest.approx(0.3)
    assert blend(0.2, 0.0, 0.35) == pytest.approx(0.1)


def test_rules_alone_explanations_have_no_model_part(rules):
    assert "model" not in rules.score(*PROBES[1]).explanation()


# ----------------------------------------------------------- digest learn ---

ARTICLES = [(f"https://news.example/{k}", title, text, label) for k, (title, text, label) in enumerate(
    [(t, x, 2) for t, x in CORE] + [(t, x, 1) for t, x in RELATED] + [(t, x, 0) for t, x in NOT_FOR_THE_DIGEST])]


def _ingest(home, cli, tmp_path):
    lines = [json.dumps({"url": url, "title": title, "summary": text, "source": "News Example",
                         "published": f"2026-10-{10 + k % 10:02d}T09:00:00Z"})
             for k, (url, title, text, _) in enumerate(ARTICLES)]
    result = cli(home, "ingest", write(tmp_path / "in" / "articles.jsonl", "\n".join(lines) + "\n"))
    assert result.exit_code == 0 and f"{len(ARTICLES)} new" in result.output


def _labels(tmp_path, extra: list[str] = (), name: str = "labels.jsonl"):
    lines = [json.dumps({"url": url + "?utm_source=mail", "label": label}) for url, _, _, label in ARTICLES]
    return write(tmp_path / name, "\n".join([*lines[:3], *extra, *lines[3:]]) + "\n")


def test_digest_learn_reports_bad_lines_and_still_trains(home, cli, tmp_path):
    from alliance_digest import services
    from alliance_digest.profile import load_profile

    _ingest(home, cli, tmp_path)
    extra = [
        "this is not json",
        json.dumps({"url": "https://news.example/x", "label": 7}),
        json.dumps({"label": 1}),
        json.dumps({"url": "https://elsewhere.example/unknown", "label": 0}),
        json.dumps({"url": "https://elsewhere.example/own", "label": 2,
                    "title": "US and Japan open shipyard talks", "summary": "<p>Shipyard talks began.</p>"}),
    ]
    result = cli(home, "learn", _labels(tmp_path, extra))
    assert result.exit_code == 0, result.output
    assert "labels.jsonl line 4: invalid JSON" in result.stderr
    assert "labels.jsonl line 5: label 7 is not 0" in result.stderr
    assert "labels.jsonl line 6: missing url" in result.stderr
    assert (f"learned from {len(ARTICLES) + 1} example(s): 6 core, 3 related, 14 not for the digest "
            f"({len(ARTICLES)} stored article(s)); 1 unknown URL(s) skipped; 3 bad line(s) skipped") in result.stdout
    assert "for the digest:" in result.stdout and "shipyard" in result.stdout
    path = services.model_path(load_profile(home / "digest.toml"))
    assert json.loads(path.read_text("utf-8"))["counts"]["examples"] == len(ARTICLES) + 1
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left over


def test_digest_learn_needs_examples_of_both_kinds(home, cli, tmp_path):
    _ingest(home, cli, tmp_path)
    only_kept = write(tmp_path / "kept.jsonl", "\n".join(
        json.dumps({"url": url, "label": label}) for url, _, _, label in ARTICLES if label) + "\n")
    result = cli(home, "learn", only_kept)
    assert result.exit_code != 0
    assert "too few examples to learn from" in result.stderr and "usable: 8 and 0" in result.stderr
    assert not (home / "relevance_model.json").exists()
    empty = cli(home, "learn", write(tmp_path / "bad.jsonl", "nonsense\n"))
    assert empty.exit_code != 0 and "bad.jsonl line 1: invalid JSON" in empty.stderr
    assert cli(home, "learn").exit_code != 0


def test_after_learning_stored_articles_are_rescored_with_the_model(home, cli, tmp_path):
    from alliance_digest import services
    from alliance_digest.db.models import Article
    from alliance_digest.pipeline.compose import Window
    from alliance_digest.profile import load_profile

    _ingest(home, cli, tmp_path)
    profile = load_profile(home / "digest.toml")
    window = Window(date(2026, 10, 1), date(2026, 10, 31))
    assert services.refresh_relevance(profile, window) == 0  # current under the rules
    before = {a.url: a.relevance for a in Article.objects.all()}
    assert all("model" not in a.relevance_explanation for a in Article.objects.all())

    assert cli(home, "learn", _labels(tmp_path)).exit_code == 0
    word = ARTICLES[0][1].split()[0]
    matching = sum(word.lower() in title.lower() for _, title, _, _ in ARTICLES)
    searched = cli(home, "articles", "--search", word)  # a search scores again only what it lists
    assert f"{matching} article(s) scored again" in searched.stderr and matching < len(ARTICLES)
    listed = cli(home, "articles", "--explain")  # what was learned shows at once, not at the next draft
    assert f"{len(ARTICLES) - matching} article(s) scored again" in listed.stderr and "model:" in listed.output
    assert services.refresh_relevance(profile, window) == 0
    stored = {a.url: a for a in Article.objects.all()}
    for article in stored.values():
        why = article.relevance_explanation
        assert why["model"]["rule_score"] == pytest.approx(before[article.url], abs=1e-4)
        assert 0 <= why["model"]["probability"] <= 1 and why["score"] == article.relevance
    shipyard = stored[ARTICLES[0][0]].relevance_explanation["model"]["words"]
    assert "shipyard" in shipyard and shipyard["shipyard"] > 0

    # forgetting the model goes back to the rules alone
    forgot = cli(home, "learn", "--forget")
    assert forgot.exit_code == 0 and "deleted" in forgot.output
    assert services.refresh_relevance(profile, window) == len(ARTICLES)
    assert {a.url: a.relevance for a in Article.objects.all()} == before
    assert "no learned model" in cli(home, "learn", "--forget").output


# ---- learning from the editors' own decisions (stored by the web app) -------------------------------

@pytest.fixture
def decided(tmp_path):
    """The demo workspace after an editor's work on issue 1.1: three stories dropped, one of them
    included again, two candidates included, then approved."""
    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    from django.contrib.auth.models import User  # Django only after the workspace is set up

    from alliance_digest.db.models import Issue
    from alliance_digest.editor import actions
    from alliance_digest.profile import load_profile

    profile = load_profile(home / "digest.toml")
    user = User.objects.create_user("ed", password="mauve-harbour-lantern-42", is_staff=True)
    issue = Issue.objects.get(volume=1, number=1)
    selected = list(issue.stories.filter(selected=True).order_by("position"))
    candidates = list(issue.stories.filter(selected=False).order_by("position"))
    urls = {story.pk: actions._article_urls(story) for story in selected + candidates}
    dropped = selected[2:]
    for story in dropped:
        actions.drop(issue, story.pk, user)
    actions.include(issue, dropped[0].pk, user)  # changed their mind: the latest decision counts
    for story in candidates[:2]:
        actions.include(issue, story.pk, user)
    actions.approve(profile, issue, user)
    kept = [s.pk for s in selected[:3] + candidates[:2]]
    return home, profile, {
        "kept": [u for pk in kept for u in urls[pk]],
        "dropped": [u for s in dropped[1:] for u in urls[s.pk]],
        "untouched": [u for s in candidates[2:] for u in urls[s.pk]],
    }


def test_digest_learn_learns_from_the_editors_includes_drops_and_approvals(decided, cli, tmp_path):
    from alliance_digest import services
    from alliance_digest.db.models import Article
    from alliance_digest.pipeline.compose import Window

    home, profile, urls = decided
    assert urls["kept"] and len(urls["dropped"]) >= 3 and urls["untouched"]
    window = Window(date(2020, 1, 1), date(2030, 1, 1))
    services.refresh_relevance(profile, window)
    before = {a.canonical_url: a.relevance for a in Article.objects.all()}

    result = cli(home, "learn")
    negatives = len(urls["dropped"])
    assert result.exit_code == 0, result.output + result.stderr
    kept = len(set(urls["kept"]))
    assert (f"{kept} core, 0 related, {negatives} not for the digest" in result.stdout)
    assert f"{kept + len(urls['dropped'])} article(s) labelled by the editors' decisions in 1 issue(s)" \
        in result.stdout
    model = json.loads(services.model_path(profile).read_text("utf-8"))
    assert model["counts"]["positive"] == kept and model["counts"]["negative"] == negatives

    # the model is used: what the editors kept now scores above what they dropped, by more than before
    services.refresh_relevance(profile, window)
    after = {a.canonical_url: a.relevance for a in Article.objects.all()}
    mean = lambda scores, group: sum(scores[u] for u in group) / len(group)  # noqa: E731
    gap_before = mean(before, urls["kept"]) - mean(before, urls["dropped"])
    gap_after = mean(after, urls["kept"]) - mean(after, urls["dropped"])
    assert gap_after > gap_before
    assert all("model" in a.relevance_explanation for a in Article.objects.all())

    # (the counts above show that candidates the editors never touched taught nothing)
    # --no-decisions leaves the decisions out: with no file there is nothing to learn from
    refused = cli(home, "learn", "--no-decisions")
    assert refused.exit_code != 0 and "nothing to learn from: give a LABELS.jsonl file" in refused.stderr


def test_a_labels_file_overrides_the_editors_decisions(decided, cli, tmp_path):
    from alliance_digest import services

    home, profile, urls = decided
    others = [f"https://elsewhere.example/{k}" for k in range(3)]
    lines = [json.dumps({"url": urls["dropped"][0], "label": 1})] + [
        json.dumps({"url": u, "label": 0, "title": f"Village fair number {k}", "summary": "Cakes and games."})
        for k, u in enumerate(others)]
    result = cli(home, "learn", write(tmp_path / "labels.jsonl", "\n".join(lines) + "\n"))
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 of them labelled again by the file (its label used)" in result.stdout
    assert f"{len(set(urls['kept']))} core, 1 related," in result.stdout
    assert json.loads(services.model_path(profile).read_text("utf-8"))["counts"]["related"] == 1


def test_the_dashboard_says_what_the_model_learned_and_what_it_has_not_seen(decided, cli):
    from django.test import Client
    from django.test.utils import override_settings

    home, profile, urls = decided

    def dashboard() -> str:
        client = Client()
        assert client.login(username="ed", password="mauve-harbour-lantern-42")
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            page = client.get("/editor/").content.decode()
        return " ".join(page.split("<h2 id=\"learning\">")[1].split("<h2")[0].split())

    # three drops, three includes and five approvals so far
    assert "rules alone (no model learned yet)" in dashboard()
    assert "11 include, drop or approve decisions stored: run <code>digest learn</code>" in dashboard()
    assert cli(home, "learn").exit_code == 0
    kept, dropped = len(set(urls["kept"])), len(urls["dropped"])
    section = dashboard()
    assert f"from {kept + dropped} labelled articles ({kept + dropped} of them labelled by your decisions)" in section
    assert "since then" not in section

    # a damaged model: one line from the command line, a plain explanation on the dashboard
    from alliance_digest import services

    services.model_path(profile).write_text('{"format": ', "utf-8")
    result = cli(home, "draft", "--start", "2026-10-27", "--end", "2026-11-09")
    assert result.exit_code == 1 and "relevance_model.json cannot be read" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert "The learned model cannot be read" in dashboard() and "digest learn --forget" in dashboard()
