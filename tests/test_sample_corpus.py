"""The bundled sample corpus end to end: the demo's draft is the US-Japan news,
one story per event, look-alike events apart."""

from __future__ import annotations

import json
import re

import pytest

from alliance_digest.demo import run_demo, sample_dir
from alliance_digest.pipeline.urls import canonicalise

EXPECTED = json.loads((sample_dir() / "expected.json").read_text("utf-8"))
STORY_OF = {canonicalise(url): info["story"] for url, info in EXPECTED["articles"].items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run the demo once; return its output files and the issue's JSON with all stories."""
    home = tmp_path_factory.mktemp("demo") / "demo-workspace"
    files = run_demo(home, echo=lambda m: None, pdf=True)
    from alliance_digest import services
    from alliance_digest.profile import load_profile

    profile = load_profile(home / "digest.toml")
    data = services.issue_data(services.find_issue("latest"), profile, include_all=True)
    return {"files": files, "data": data, "home": home}


def test_demo_writes_the_pdf_edition(demo):
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(demo["files"]["pdf"].read_bytes()))
    text = "".join(page.extract_text() for page in reader.pages)
    assert all(story["headline"] in text for story in demo["data"]["stories"])
    assert "Image Source:" not in text  # the sample's image hosts are fictional: no image, no credit
    assert reader.metadata.title.endswith("Vol: 1.1")


def _stories_of(story):
    return {STORY_OF[canonicalise(a["url"])] for a in story["articles"]}


def test_demo_markdown_has_the_reference_issue_shape(demo):
    md = demo["files"]["md"].read_text("utf-8")
    assert md.startswith("# US-Japan Alliance Digest\n")
    assert re.search(r"^Vol: \d+\.\d+$", md, re.M)
    assert "\nNovember 8, 2026\n" in md
    assert re.search(r"^Image Source: \[[^\]]+\]\(https?://[^)]+\)$", md, re.M)
    headlines = md.split("Headlines:\n\n", 1)[1].split("\n\nDetails:", 1)[0].splitlines()
    details = md.split("Details:\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(headlines) == 5 and all(h.startswith("- ") for h in headlines)
    assert len(details) == 5 and all(d.startswith("- ") for d in details)
    for story, paragraph in zip(demo["data"]["stories"], details):
        urls = {a["url"] for a in story["articles"]}
        linked = set(re.findall(r"\]\((https?://[^)]+)\)", paragraph))
        assert linked and linked <= urls, "each paragraph links only to its own story's sources"
        assert re.search(r"\*\*[^*]+\*\*", paragraph), "each paragraph has a bold key fact"
        assert story["headline"] in "\n".join(headlines)
    assert "bi-weekly summary" in md.rsplit("\n\n", 1)[-1]


def test_drafted_stories_are_the_us_japan_stories(demo):
    stories = demo["data"]["stories"]
    assert len(stories) == 5
    for story in stories:
        events = _stories_of(story)
        assert all(EXPECTED["stories"][e]["us_japan"] for e in events), story["headline"]
    for candidate in demo["data"]["candidates"]:
        assert all(EXPECTED["stories"][e]["us_japan"] for e in _stories_of(candidate)), candidate["headline"]


def test_a_paragraph_does_not_restate_what_it_already_said(demo):
    """Three outlets each open with "the Cabinet named Sakurai ambassador": the paragraph says it
    once, then what each adds; no sentence repeats most of what the sentences before it said."""
    from alliance_digest.pipeline.summarise import _content
    from alliance_digest.pipeline.text import split_sentences

    for story in demo["data"]["stories"] + demo["data"]["candidates"]:
        plain = re.sub(r"\]\([^)]*\)", "", story["summary_markdown"]).replace("[", "").replace("**", "")
        said: set[str] = set()
        for sentence in split_sentences(plain.replace("\\", "")):
            words = _content(sentence)
            if said:
                assert len(words & said) / len(words) <= 0.6, (story["headline"], sentence)
            said |= words


def test_a_second_outlets_lede_does_not_state_the_fact_again(demo):
    """Every outlet opens with the event: "Tokyo's Cabinet named Hiroyuki Sakurai, 61, ..." under "The
    Cabinet on Tuesday appointed Hiroyuki Sakurai", "$41 a share in cash" twice in the steel-maker deal.
    Each paragraph states the appointment, and the price per share, once."""
    def paragraph(headline_words):
        stories = demo["data"]["stories"] + demo["data"]["candidates"]
        story = next(s for s in stories if all(w in s["headline"] for w in headline_words))
        return re.sub(r"\]\([^)]*\)", "", story["summary_markdown"]).replace("[", "").replace("**", "")

    from alliance_digest.pipeline.text import split_sentences

    envoy = split_sentences(paragraph(["ambassador"]))
    assert len([s for s in envoy if re.search(r"Cabinet\b.*\b(?:named|appointed) Hiroyuki Sakurai", s)]) == 1
    assert paragraph(["Kansai", "Great Lakes"]).count("$41") == 1


def test_a_paragraph_opens_with_the_event_not_a_reaction(demo):
    """The AI testing pact opened "Lawmakers on Friday welcomed an agreement ...": the Hill's reaction
    read as the news. The paragraph now opens with the institutes' agreement; no paragraph opens with
    a reaction."""
    from alliance_digest.pipeline.summarise import is_reaction
    from alliance_digest.pipeline.text import split_sentences

    openings = {}
    for story in demo["data"]["stories"] + demo["data"]["candidates"]:
        plain = re.sub(r"\]\([^)]*\)", "", story["summary_markdown"]).replace("[", "").replace("**", "")
        openings[story["headline"]] = split_sentences(plain.replace("\\", ""))[0]
    pact = next(first for headline, first in openings.items() if "AI institutes" in headline)
    assert pact.startswith("Japan's AI Safety Institute and its US counterpart agreed on Friday")
    assert not [first for first in openings.values() if is_reaction(first)]


def test_each_digest_story_tells_one_event(demo):
    """As in the reference issue, the economic "2+2", a policy forum on economic security and an AI
    testing pact are three stories, not one paragraph mixing them."""
    for story in demo["data"]["stories"] + demo["data"]["candidates"]:
        assert len(_stories_of(story)) == 1, f"{story['headline']} mixes {_stories_of(story)}"


def test_every_multi_outlet_event_is_one_story(demo):
    in_window = {canonicalise(a["url"]) for s in demo["data"]["all_stories"] for a in s["articles"]}
    for story_id, info in EXPECTED["stories"].items():
        urls = {canonicalise(u) for u in info["articles"]} & in_window
        if len(urls) < 2:
            continue
        holders = [s for s in demo["data"]["all_stories"]
                   if urls & {canonicalise(a["url"]) for a in s["articles"]}]
        assert len(holders) == 1, f"{story_id} split into {[h['headline'] for h in holders]}"


def test_no_story_mixes_two_events_and_look_alikes_stay_apart(demo):
    for story in demo["data"]["all_stories"]:
        assert len(_stories_of(story)) == 1, f"{story['headline']} mixes {_stories_of(story)}"
    assert EXPECTED["lookalikes"], "the corpus declares look-alike pairs"


def test_near_duplicates_and_tracking_variants_are_stored_once(demo):
    from alliance_digest.workspace import setup_django

    setup_django(demo["home"], migrate=False)
    from alliance_digest.db.models import Article

    urls = list(Article.objects.values_list("canonical_url", flat=True))
    assert len(urls) == len(set(urls)) == len(EXPECTED["articles"])


def test_html_and_text_outputs_written(demo):
    html = demo["files"]["html"].read_text("utf-8")
    txt = demo["files"]["txt"].read_text("utf-8")
    assert "<h1>US-Japan Alliance Digest</h1>" in html and html.count('<li id="story-') == 5
    assert "HEADLINES" in txt and "[1] https://" in txt and "**" not in txt
