"""Composing an issue: window, stories from articles, selection and lead image.

Pure functions over :mod:`.records`; the Django shell stores what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from alliance_digest.pipeline import ranking, summarise
from alliance_digest.pipeline.corrections import Corrections, split_cluster
from alliance_digest.pipeline.grouping import GroupInput, group, term_similarity
from alliance_digest.pipeline.records import StoryArticle, StoryDraft

MAX_CANDIDATES = 60  # relevant stories kept on a draft beyond the selected ones
BELOW_BAR_CANDIDATES = 8  # a thin draft also offers the stories nearest below the bar (marked), to fill it
POOL_SHARE = 0.5  # articles below this share of the relevance bar never enter a digest story
SAME_EVENT = 0.15  # centroid cosine at which a lower-ranked relevant story joins a higher one...
SAME_EVENT_DAYS = 5  # ...when their reports are at most this many days apart
SAME_EVENT_CLEARLY = 0.3  # or at this cosine whatever the dates
SAME_CYCLE = 0.08  # or at this cosine when reported in the same news cycle...
SAME_CYCLE_DAYS = 1.0  # ...reports at most a day apart


@dataclass
class Window:
    """The days an issue covers, first and last inclusive, as days of ``zone``.

    The zone is the digest's (``[digest] time_zone``): a Washington team's
    "November 8" ends at midnight in Washington, not at midnight UTC.
    """

    start: date
    end: date
    zone: tzinfo = timezone.utc
    start_at: datetime | None = None  # exact start, where the issue before ended (its days another zone's)

    @property
    def start_dt(self) -> datetime:
        return self.start_at or datetime.combine(self.start, time.min, tzinfo=self.zone)

    @property
    def zone_name(self) -> str:
        return getattr(self.zone, "key", None) or "UTC"

    @property
    def end_dt(self) -> datetime:
        """Exclusive end: midnight after the last day (days are inclusive)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.zone)

    @classmethod
    def ending(cls, end: date, days: int, zone: tzinfo = timezone.utc) -> "Window":
        return cls(end - timedelta(days=days - 1), end, zone)


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
        offered = any(s.reasons.get("below_bar") for s in self.candidates)
        return (f"Thin window: only {len(self.selected)} of the {self.wanted} stories this issue needs "
                f"cleared the relevance bar. "
                + ("The stories nearest below the bar are among the candidates, marked; include those that "
                   "belong, or add stories by hand, " if offered else "Add stories by hand ")
                + "rather than padding with unrelated news.")


def _inputs(articles: list[StoryArticle]) -> list[GroupInput]:
    return [GroupInput(a.title, a.text or a.summary, a.published) for a in articles]


def build_stories(articles: list[StoryArticle], threshold: float, background: list[StoryArticle] = (),
                  corrections: Corrections | None = None) -> list[StoryDraft]:
    """Group articles into stories (event clusters); each story's articles best source first.

    An event cluster holding two articles the editors judged apart
    (``corrections``) is cut apart.
    """
    return _stories(articles, _event_grouping(articles, threshold, background, corrections))


def _event_grouping(articles: list[StoryArticle], threshold: float, background: list[StoryArticle] = (),
                    corrections: Corrections | None = None):
    grouping = group(_inputs(articles), threshold, _inputs(list(background)))
    if corrections:
        grouping.clusters = _apply_splits(grouping, articles, corrections)
    return grouping


def _stories(articles: list[StoryArticle], grouping, keep=lambda article: True) -> list[StoryDraft]:
    """One story per event cluster, of its articles that ``keep`` accepts (best source first).

    A story's terms are those of the articles it keeps: what the story is
    about, not the neighbouring coverage it was clustered with.
    """
    stories = []
    for members in grouping.clusters:
        members = [i for i in members if keep(articles[i])]
        if not members:
            continue
        items = sorted((articles[i] for i in members),
                       key=lambda a: (-a.authority, -a.relevance, a.published or datetime.max.replace(tzinfo=timezone.utc), a.id))
        stories.append(StoryDraft(articles=items, terms_weights=grouping.terms(members)))
    return stories


def _apply_splits(grouping, articles: list[StoryArticle], corrections: Corrections) -> list[list[int]]:
    """Event clusters with every two articles judged apart cut apart (indices into ``articles``)."""
    index = {a.id: k for k, a in enumerate(articles)}

    def affinity(article_id: int, part: list[int]) -> float:
        return term_similarity(grouping.terms([index[article_id]]), grouping.terms([index[a] for a in part]))

    clusters = []
    for members in grouping.clusters:
        for part in split_cluster([articles[i].id for i in members], corrections, affinity):
            clusters.append(sorted(index[a] for a in part))
    return clusters


def _merge_same_events(ranked: list[StoryDraft], corrections: Corrections | None = None,
                       clearly: float = SAME_EVENT_CLEARLY, developments: bool = True) -> list[StoryDraft]:
    """Fold a lower-ranked story into a higher one about the same event.

    Average linkage keeps borderline coverage apart; two such stories in one
    issue would tell the same news twice, so their coverage is combined.
    Stories are the same event when their terms are clearly alike,
    somewhat alike and reported within a few days of each other, or
    faintly alike in the same news cycle: two stories of a two-country digest
    reported within a day that share any specific words are, in practice, one
    development (a tariff letter and the allies' appeal against it).
    (Storylines, ``evaluation/storylines.py``, are not a reason: on full-text
    news they chain related but different events, e.g. an economic "2+2",
    a policy forum and an AI testing pact, which the reference issue runs
    as separate stories; see docs/QUALITY.md, session 7.)
    The editors' judgements (``corrections``) come first: stories judged
    one always fold, and no fold brings together articles judged apart.
    ``clearly``: the caller passes at least its grouping threshold, so the
    date-free "clearly alike" fold never undoes a strict grouping (the
    development rules below still fold at lower similarity within days);
    ``developments=False``
    (``[grouping] fold_developments``) keeps only that clear case, for a
    beat where many similar happenings run side by side (several
    anti-subsidy probes in one fortnight are separate stories).
    """
    def span(story: StoryDraft) -> tuple[float, float] | None:
        stamps = [a.published.timestamp() for a in story.articles if a.published]
        return (min(stamps), max(stamps)) if stamps else None

    def same_event(a: StoryDraft, b: StoryDraft) -> bool:
        similarity = term_similarity(a.terms_weights, b.terms_weights)
        if similarity >= clearly:
            return True
        if similarity < SAME_CYCLE or not developments:
            return False
        sa, sb = span(a), span(b)
        gap = max(0.0, max(sa[0], sb[0]) - min(sa[1], sb[1])) if sa and sb else 0.0
        if similarity < SAME_EVENT:
            return gap <= SAME_CYCLE_DAYS * 86400
        return gap <= SAME_EVENT_DAYS * 86400

    # the relation is made transitive, so the result does not hang on rank order
    corrections = corrections or Corrections()
    parent = list(range(len(ranked)))
    own = [[a.id for a in story.articles] for story in ranked]
    members = [list(ids) for ids in own]  # each root's whole group

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj and corrections.may_join(members[ri], members[rj]):
            parent[max(ri, rj)] = min(ri, rj)
            members[min(ri, rj)] += members[max(ri, rj)]

    if corrections:
        for i in range(len(ranked)):
            for j in range(i + 1, len(ranked)):
                if corrections.must_join(own[i], own[j]):
                    join(i, j)
    for i in range(len(ranked)):
        for j in range(i + 1, len(ranked)):
            if same_event(ranked[i], ranked[j]):
                join(i, j)
    kept: dict[int, StoryDraft] = {}
    for i, story in enumerate(ranked):  # best-ranked member leads its group
        root = find(i)
        if root not in kept:
            kept[root] = story
        else:
            lead = kept[root]
            lead.lead_articles = lead.lead_articles or len(lead.articles)  # its headline stays the lead's
            lead.articles.extend(story.articles)
    return list(kept.values())


def compose(articles: list[StoryArticle], window: Window, wanted: int, weights: ranking.Weights,
            relevance_threshold: float, grouping_threshold: float,
            previous: list[dict[str, float]] | None = None, keep_all: bool = False,
            corrections: Corrections | None = None, fold_developments: bool = True) -> Composition:
    """Group, rank, select the top ``wanted`` relevant stories and draft their text.

    Every article in the window is grouped into events (so look-alike
    events are told apart with all their coverage); relevant events of one
    development fold into one digest story (:func:`_merge_same_events`),
    which keeps only its articles near or above the relevance bar, so its
    sources are about the topic (a US-Japan story does not cite the general
    trade coverage it sits among). ``keep_all`` also returns every story of
    the window.

    ``corrections`` are the editors' grouping judgements (their merges and
    splits, and the stories of a draft they worked on; see
    :mod:`.corrections`): a redraft places new articles without regrouping
    what the editors have reviewed.
    """
    floor = POOL_SHARE * relevance_threshold
    grouping = _event_grouping(articles, grouping_threshold, corrections=corrections)
    stories = _stories(articles, grouping, keep=lambda article: article.relevance >= floor)
    ranked = ranking.rank(stories, weights, window.start_dt, window.end_dt, relevance_threshold, previous)
    relevant = _merge_same_events([s for s in ranked if s.relevant], corrections,
                                  clearly=max(SAME_EVENT_CLEARLY, grouping_threshold), developments=fold_developments)
    for story in relevant:  # merged stories: rescore with their combined coverage
        ranking.score_story(story, weights, window.start_dt, window.end_dt, previous or [])
    relevant.sort(key=lambda s: (-s.score, s.articles[0].id))
    selected, candidates = relevant[:wanted], relevant[wanted:wanted + MAX_CANDIDATES]
    if len(selected) < wanted and len(candidates) < BELOW_BAR_CANDIDATES:
        # a thin window: nothing below the bar is drafted into the issue, but the editor who must
        # fill it sees the nearest stories (a US posture story that never names Japan, say), marked
        nearest = sorted((s for s in ranked if not s.relevant), key=lambda s: (-s.reasons["relevance"], -s.score))
        for story in nearest[:BELOW_BAR_CANDIDATES - len(candidates)]:
            story.reasons["below_bar"] = True
            candidates.append(story)
    casing = summarise.Casing.of_articles(articles)  # how the whole window writes each word
    for story in selected + candidates:
        summarise.draft(story, casing)
    all_stories: list[StoryDraft] = []
    if keep_all:
        all_stories = ranking.rank(_stories(articles, grouping), weights, window.start_dt, window.end_dt, relevance_threshold, previous)
        for story in all_stories:
            summarise.draft(story, casing)
    return Composition(selected, candidates, all_stories, wanted)


def lead_image(stories: list[StoryDraft]) -> StoryArticle | None:
    """The top story's image (its best source first); else the next story's."""
    for story in stories:
        for article in story.articles:
            if article.image:
                return article
    return None
