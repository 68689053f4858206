"""Storylines (grouping level 2), the same-news-cycle fold, and the allies stand-in."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone

from alliance_digest.pipeline.compose import _merge_same_events
from alliance_digest.evaluation.storylines import storylines
from alliance_digest.pipeline.grouping import GroupInput
from alliance_digest.pipeline.records import StoryArticle, StoryDraft
from alliance_digest.pipeline.relevance import RelevanceScorer
from alliance_digest.profile import default_profile_text, parse_profile

DAY0 = datetime(2025, 7, 1, 9, tzinfo=timezone.utc)


def _window(extra: list[GroupInput]) -> list[GroupInput]:
    """A 60-item window in which "Trump", "tariff" and "Japan" are everywhere."""
    filler = [GroupInput(f"Trump tariff news item {k} on Japan", f"Japan tariff Trump update number {k} "
                         f"about topic{k} and subject{k}.", DAY0 + timedelta(hours=k)) for k in range(60)]
    return extra + filler


def test_events_sharing_specific_words_join_a_storyline_but_not_through_ubiquitous_ones():
    items = _window([
        GroupInput("Superlong bond yields hit record after weak auction", "Japan's 40-year bond auction drew weak demand.",
                   DAY0),
        GroupInput("Bond market volatility: superlong yields rattle investors", "The 40-year bond sell-off spreads.",
                   DAY0 + timedelta(days=6)),
        GroupInput("Trump tariff threat on Japan", "Trump said Japan faces a tariff.", DAY0 + timedelta(days=1)),
    ])
    clusters = [[i] for i in range(len(items))]
    lines = storylines(items, clusters)
    line_of = {k: n for n, line in enumerate(lines) for k in line}
    assert line_of[0] == line_of[1]  # one development over six days
    assert line_of[2] != line_of[0]
    # the filler shares only the window's ubiquitous words: no two of it join
    assert all(len([k for k in line if k >= 3]) <= 1 for line in lines)
    assert sorted(k for line in lines for k in line) == list(range(len(items)))  # every cluster once


def test_storylines_respect_the_date_limit():
    items = _window([
        GroupInput("Superlong bond yields hit record after weak auction", "The 40-year bond auction drew weak demand.",
                   DAY0),
        GroupInput("Superlong bond yields hit record after weak auction", "The 40-year bond auction drew weak demand.",
                   DAY0 + timedelta(days=40)),
    ])
    lines = storylines(items, [[i] for i in range(len(items))])
    assert not any(0 in line and 1 in line for line in lines)


def _story(title: str, when: datetime, terms: dict[str, float], ident: int) -> StoryDraft:
    article = StoryArticle(ident, f"https://example.org/{ident}", title, "", "Outlet", when, 0.6)
    return StoryDraft(articles=[article], terms_weights=terms)


def test_relevant_stories_of_one_news_cycle_fold_but_a_later_look_alike_stays_apart():
    lead = _story("Tariff letter to Japan", DAY0, {"letter": 0.5, "tariff": 0.5, "allies": 0.2, "japan": 0.4}, 1)
    same_day = _story("Asian allies ready trade appeal", DAY0 + timedelta(hours=10),
                      {"appeal": 0.6, "allies": 0.5, "weeks": 0.3}, 2)
    days_later = _story("Allies ready trade appeal", DAY0 + timedelta(days=4),
                        {"appeal": 0.6, "allies": 0.5, "weeks": 0.3, "court": 0.4}, 3)
    merged = _merge_same_events([lead, same_day])
    assert len(merged) == 1 and len(merged[0].articles) == 2
    assert len(_merge_same_events([lead, days_later])) == 2


def test_americas_asian_allies_stand_in_for_japan():
    scorer = RelevanceScorer(parse_profile(tomllib.loads(default_profile_text())).topic)
    threshold = parse_profile(tomllib.loads(default_profile_text())).topic.threshold
    allies = scorer.score("U.S.'s Biggest Asian Allies Ready Last-Ditch Trade Appeal to Trump",
                          "Trump's latest salvo on trade gives U.S. allies three weeks to relax tariffs.")
    europe = scorer.score("U.S. allies in Europe ready trade appeal to Trump",
                          "Trump's latest salvo on trade gives U.S. allies three weeks to relax tariffs.")
    assert allies.score >= threshold > europe.score


def test_a_folded_story_keeps_the_headline_of_its_leading_event():
    """Coverage folded in from a lower-ranked event never takes over the lead's headline."""
    from alliance_digest.pipeline.summarise import draft_headline

    lead = _story("Trump sets 25% tariffs on Japan in a letter to Tokyo", DAY0,
                  {"letter": 0.6, "tariffs": 0.5, "japan": 0.3}, 1)
    anxiety = [StoryArticle(id=10 + k, url=f"https://example.org/boj/{k}", title=title, text="", source=f"Outlet {k}",
                            published=DAY0 + timedelta(hours=3 + k), relevance=0.5)
               for k, title in enumerate(["Tariff anxiety spreads across Japan, BOJ report shows",
                                          "BOJ report shows tariff anxiety spreading across Japan's regions",
                                          "Tariff anxiety spreading in Japan, says BOJ regional report"])]
    folded = StoryDraft(articles=anxiety, terms_weights={"letter": 0.6, "tariffs": 0.5, "anxiety": 0.4})
    alone = StoryDraft(articles=lead.articles + anxiety)  # the same coverage, unfolded: the many agree
    assert "anxiety" in draft_headline(alone).lower()
    [merged] = _merge_same_events([lead, folded])
    assert len(merged.articles) == 4 and draft_headline(merged).startswith("Trump sets 25% tariffs on Japan")
