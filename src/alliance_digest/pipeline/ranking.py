"""Ranking: order stories by how much they matter to this digest.

A story's score is a weighted sum of five factors in [0, 1], each kept in
the story's reasons so editors can see why it ranks where it does:
relevance (the topic score of its best articles), outlets (how many
different outlets covered it), authority (how authoritative they are),
recency (how late in the window it broke) and novelty (how unlike the
stories of earlier issues it is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from alliance_digest.pipeline.grouping import term_similarity
from alliance_digest.pipeline.records import StoryDraft

REPEAT_PENALTY = 0.2  # taken off a story that repeats one already published


@dataclass
class Weights:
    relevance: float = 0.45
    outlets: float = 0.25
    authority: float = 0.15
    recency: float = 0.10
    novelty: float = 0.05
    repeat_similarity: float = 0.5


def story_relevance(story: StoryDraft) -> float:
    scores = sorted((a.relevance for a in story.articles), reverse=True)
    top = scores[:3]
    return 0.7 * scores[0] + 0.3 * (sum(top) / len(top)) if scores else 0.0


def score_story(story: StoryDraft, weights: Weights, start: datetime, end: datetime,
                previous: list[dict[str, float]]) -> None:
    """Fill ``story.score`` and ``story.reasons``."""
    relevance = story_relevance(story)
    outlets = story.outlets
    outlet_factor = 1 - math.exp(-(len(outlets) - 1) / 2) if outlets else 0.0
    by_outlet: dict[str, float] = {}
    for article in story.articles:
        key = article.source or article.url
        by_outlet[key] = max(by_outlet.get(key, 0.0), article.authority)
    authorities = sorted(by_outlet.values(), reverse=True)
    authority = (0.6 * authorities[0] + 0.4 * sum(authorities[:3]) / len(authorities[:3])) if authorities else 0.0
    dates = [a.published for a in story.articles if a.published]
    span = max((end - start).total_seconds(), 1.0)
    recency = min(1.0, max(0.0, (max(dates) - start).total_seconds() / span)) if dates else 0.5
    repeat = max((term_similarity(story.terms_weights, old) for old in previous), default=0.0)
    novelty = 1.0 - repeat
    score = (weights.relevance * relevance + weights.outlets * outlet_factor
             + weights.authority * authority + weights.recency * recency + weights.novelty * novelty)
    repeated = repeat >= weights.repeat_similarity
    if repeated:
        score -= REPEAT_PENALTY
    story.score = round(score, 4)
    story.reasons = {
        "relevance": round(relevance, 4),
        "outlets": len(outlets),
        "outlet_names": outlets,
        "articles": len(story.articles),
        "authority": round(authority, 4),
        "recency": round(recency, 4),
        "novelty": round(novelty, 4),
        "repeat_of_earlier_issue": repeated,
    }


def rank(stories: list[StoryDraft], weights: Weights, start: datetime, end: datetime,
         threshold: float, previous: list[dict[str, float]] | None = None) -> list[StoryDraft]:
    """Score every story, mark the relevant ones, and sort best first."""
    for story in stories:
        score_story(story, weights, start, end, previous or [])
        story.relevant = story.reasons["relevance"] >= threshold
    return sorted(stories, key=lambda s: (not s.relevant, -s.score, s.articles[0].id))
