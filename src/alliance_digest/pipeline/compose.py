"""Composing an issue: window, stories from articles, selection and lead image.

Pure functions over :mod:`.records`; the Django shell stores what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from alliance_digest.pipeline import ranking, summarise
from alliance_digest.pipeline.grouping import GroupInput, group
from alliance_digest.pipeline.records import StoryArticle, StoryDraft

MAX_CANDIDATES = 60  # relevant stories kept on a draft beyond the selected ones


@dataclass
class Window:
    start: date
    end: date

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def end_dt(self) -> datetime:
        """Exclusive end: midnight after the last day (days are inclusive)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)

    @classmethod
    def ending(cls, end: date, days: int) -> "Window":
        return cls(end - timedelta(days=days - 1), end)


@dataclass
class Composition:
    selected: list[StoryDraft]
    candidates: list[StoryDraft]
    all_stories: list[StoryDraft] = field(default_factory=list)
    wanted: int = 5

    @property
    def thin(self) -> bool:
        return len(self.selected) < self.wanted

    def notice(self) -> str:
        if not self.thin:
            return ""
        return (f"Thin window: only {len(self.selected)} of the {self.wanted} stories this issue needs "
                f"cleared the relevance bar. Add stories by hand rather than padding with unrelated news.")


def build_stories(articles: list[StoryArticle], threshold: float) -> list[StoryDraft]:
    """Group articles into stories; each story's articles best source first."""
    grouping = group([GroupInput(a.title, a.text or a.summary, a.published) for a in articles], threshold)
    stories = []
    for members in grouping.clusters:
        items = sorted((articles[i] for i in members),
                       key=lambda a: (-a.authority, -a.relevance, a.published or datetime.max.replace(tzinfo=timezone.utc), a.id))
        stories.append(StoryDraft(articles=items, terms_weights=grouping.terms(members)))
    return stories


def compose(articles: list[StoryArticle], window: Window, wanted: int, weights: ranking.Weights,
            relevance_threshold: float, grouping_threshold: float,
            previous: list[dict[str, float]] | None = None, keep_all: bool = False) -> Composition:
    """Group, rank, select the top ``wanted`` relevant stories and draft their text."""
    stories = build_stories(articles, grouping_threshold)
    ranked = ranking.rank(stories, weights, window.start_dt, window.end_dt, relevance_threshold, previous)
    relevant = [s for s in ranked if s.relevant]
    selected, candidates = relevant[:wanted], relevant[wanted:wanted + MAX_CANDIDATES]
    for story in selected + candidates:
        summarise.draft(story)
    if keep_all:
        for story in ranked:
            if not story.headline:
                summarise.draft(story)
    return Composition(selected, candidates, ranked if keep_all else [], wanted)


def lead_image(stories: list[StoryDraft]) -> StoryArticle | None:
    """The top story's image (its best source first); else the next story's."""
    for story in stories:
        for article in story.articles:
            if article.image:
                return article
    return None
