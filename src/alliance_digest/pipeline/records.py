"""Data passed between pipeline stages (plain dataclasses, no framework)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


HASH_MIN_WORDS = 12  # title + text words for equal text to mean the same article


@dataclass
class ArticleRecord:
    """One news article as read from a feed, a page or a JSONL line."""

    url: str
    title: str
    canonical_url: str = ""
    guid: str | None = None
    summary: str = ""
    text: str = ""
    author: str | None = None
    source: str = ""
    published: datetime | None = None
    image: str | None = None
    image_alt: str | None = None
    origin: str = ""  # where it was read from (feed path/URL, page, JSONL line)

    @property
    def body(self) -> str:
        """The best text we have: full text, else the feed description."""
        return self.text or self.summary

    @property
    def content_hash(self) -> str:
        """Hash of normalised title + body: catches the same item under two URLs."""
        norm = " ".join((self.title + "\n" + self.body).lower().split())
        return hashlib.sha256(norm.encode("utf-8", "replace")).hexdigest()[:32]

    @property
    def hash_identifies(self) -> bool:
        """Whether equal text means the same article: a live blog's "Here's the latest." under two
        URLs is two articles; a headline and a teaser of some length are one."""
        return len((self.title + " " + self.body).split()) >= HASH_MIN_WORDS


@dataclass
class Problem:
    """A per-input error that did not stop the run (printed as one line)."""

    input: str
    message: str

    def __str__(self) -> str:
        return f"{self.input}: {self.message}"


@dataclass
class ReadResult:
    """What reading one input produced: articles and per-item problems."""

    articles: list[ArticleRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: Problem | None = None  # the input as a whole could not be read


@dataclass
class Relevance:
    """A topic score in [0, 1] with the reasons behind it."""

    score: float
    terms: dict[str, int] = field(default_factory=dict)
    entities: dict[str, int] = field(default_factory=dict)
    exclusions: dict[str, int] = field(default_factory=dict)
    model: dict = field(default_factory=dict)  # the learned model's part, when there is one
    preview: str = ""  # the headline phrase that marks a preview or round-up (score 0)

    def explanation(self) -> dict:
        why = {
            "score": round(self.score, 4),
            "terms": self.terms,
            "entities": self.entities,
            "exclusions": self.exclusions,
        }
        if self.model:
            why["model"] = self.model
        if self.preview:
            why["preview"] = self.preview
        return why


@dataclass
class StoryArticle:
    """The view of a stored article that grouping, ranking and drafting need."""

    id: int
    url: str
    title: str
    text: str
    source: str
    published: datetime | None
    relevance: float
    authority: float = 0.5
    image: str | None = None
    image_alt: str | None = None
    summary: str = ""


@dataclass
class StoryDraft:
    """A group of articles about one event, with its rank and drafted text."""

    articles: list[StoryArticle]
    score: float = 0.0
    reasons: dict = field(default_factory=dict)
    terms_weights: dict[str, float] = field(default_factory=dict)  # centroid's top terms
    headline: str = ""
    summary_markdown: str = ""
    relevant: bool = False
    lead_articles: int = 0  # after folding: the first N articles are the leading event's (0: all)

    @property
    def relevance(self) -> float:
        return max((a.relevance for a in self.articles), default=0.0)

    @property
    def outlets(self) -> list[str]:
        seen: dict[str, None] = {}
        for a in self.articles:
            seen.setdefault(a.source or "", None)
        return [s for s in seen if s]
