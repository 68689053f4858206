"""Stories editors make by hand: from pasted URLs, from articles split out of a story, or rescored after a merge.

The text is drafted and the score explained exactly as for the machine's
draft (:mod:`alliance_digest.pipeline.summarise`, :mod:`~alliance_digest.pipeline.ranking`),
so a hand-made story reads and ranks like the others.

Pasted URLs are read by the polite fetcher (:mod:`alliance_digest.pipeline.fetcher`),
which checks every hop of a redirect chain with
:func:`~alliance_digest.pipeline.netsafety.check_url` (an editor's URL must
not make the server read its own network); the page is then extracted by the
same reader as ``digest ingest`` (``parse_page``).
"""

from __future__ import annotations

import dataclasses

from alliance_digest.db.models import Article, Issue, Story
from alliance_digest.pipeline import ranking, summarise
from alliance_digest.pipeline.records import ArticleRecord, StoryArticle as ArticleView, StoryDraft

MAX_URLS = 10  # per paste: each is fetched while the editor waits
PASTE_TIMEOUT = 20.0  # seconds for one pasted page, however the profile's [fetch] is set


class PasteError(Exception):
    """One pasted URL that could not be read (the message names it)."""


def article_views(profile, articles: list[Article]) -> list[ArticleView]:
    return [ArticleView(id=a.pk, url=a.url, title=a.title, text=a.text, summary=a.summary, source=a.source,
                        published=a.published, relevance=a.relevance, authority=profile.authority_for(a.source, a.url),
                        image=a.image_url, image_alt=a.image_alt) for a in articles]


def _terms(profile, views: list[ArticleView]) -> dict[str, float]:
    """The story's strongest terms (kept for novelty checks in later issues)."""
    from alliance_digest.pipeline.grouping import GroupInput, group

    inputs = [GroupInput(v.title, v.text or v.summary, v.published) for v in views]
    try:
        return group(inputs, profile.grouping_threshold).terms(list(range(len(inputs))))
    except ValueError:  # nothing but stop words: no terms to keep
        return {}


def _score(profile, issue: Issue, story: StoryDraft) -> None:
    from alliance_digest.services import previous_terms

    from alliance_digest.services import issue_window

    window = issue_window(issue)
    ranking.score_story(story, profile.ranking, window.start_dt, window.end_dt, previous_terms(exclude=issue))


def draft_story(profile, issue: Issue, articles: list[Article]) -> StoryDraft:
    """Headline, summary, score, reasons and terms of a new story made of ``articles`` (in that order)."""
    story = StoryDraft(articles=article_views(profile, articles))
    story.terms_weights = _terms(profile, story.articles)
    _score(profile, issue, story)
    summarise.draft(story)
    return story


def rescore(profile, issue: Issue, story: Story) -> None:
    """New score and reasons for a stored story whose articles changed (its text and terms stay)."""
    articles = [link.article for link in story.storyarticle_set.select_related("article").order_by("position")]
    if not articles:
        return
    draft = StoryDraft(articles=article_views(profile, articles), terms_weights=story.terms or {})
    _score(profile, issue, draft)
    story.score, story.reasons = draft.score, draft.reasons
    story.save(update_fields=["score", "reasons"])


# ------------------------------------------------------------ pasted URLs ---

def read_pasted_all(profile, urls: list[str]) -> list[ArticleRecord | PasteError]:
    """The article at each pasted URL (or the PasteError saying why not), in order.

    All URLs go through ONE run of the polite fetcher, so they are read at
    the same time (per-host limits still hold) and the editor's wait stays
    bounded by ``PASTE_TIMEOUT`` rather than growing with the paste. The
    fetcher checks each URL and every redirect hop against private,
    loopback and link-local addresses (unless the profile allows them); the
    page is extracted as ``digest ingest`` would.
    """
    from alliance_digest.pipeline.fetcher import FetchRequest, fetch_all
    from alliance_digest.pipeline.netsafety import UnsafeURL, check_url

    out: list = [None] * len(urls)
    requests = []
    for i, url in enumerate(urls):
        try:  # a clear message before any network work (resolution included)
            check_url(url, allow_private=profile.fetch.allow_private_addresses)
        except UnsafeURL as exc:
            out[i] = PasteError(f"{url}: refused: {exc}")
            continue
        requests.append(FetchRequest(url, kind="page", key=i))
    # the editor waits on this request: keep it well inside a WSGI worker's timeout (gunicorn: 30 s)
    policy = profile.fetch.policy(profile.user_agent)
    policy = dataclasses.replace(policy, total_timeout=min(policy.total_timeout, PASTE_TIMEOUT),
                                 retries=0, max_retry_after=0.0)
    for result in fetch_all(requests, policy) if requests else []:
        i = result.request.key
        out[i] = _pasted_article(urls[i], result)
    return out


def _pasted_article(url: str, result) -> ArticleRecord | PasteError:
    from alliance_digest.pipeline.extract import looks_like_html, parse_page

    if not result.ok:
        verb = "refused" if result.error_code == "unsafe_address" else "could not be fetched"
        return PasteError(f"{url}: {verb}: {result.error}")
    kind = result.content_type
    if (kind and "html" not in kind) or not looks_like_html(result.content):
        return PasteError(f"{url}: not an HTML page ({kind or 'unknown content'})")
    parsed = parse_page(result.content, url, url=result.url)
    if parsed.fatal or not parsed.articles:
        return PasteError(f"{url}: {parsed.fatal.message if parsed.fatal else 'no article found in the page'}")
    return parsed.articles[0]


def split_urls(text: str) -> list[str]:
    """The distinct URLs of a paste (one per line or separated by spaces), in order."""
    seen: dict[str, None] = {}
    for line in (text or "").splitlines():
        parts = [part.strip().strip("<>,;\"'()[]") for part in line.split()]
        parts = [part for part in parts if part]
        addresses = [part for part in parts if "://" in part or part.startswith("www.")]
        if addresses:  # "- https://...", "1. https://...", "See: https://...": the addresses in it
            parts = addresses
        elif len(parts) > 1:
            parts = [" ".join(line.split())]  # a line of words is one bad entry, refused once
        for part in parts:
            seen.setdefault(part, None)
    return list(seen)


def stored_article(record: ArticleRecord) -> Article | None:
    """The stored article for a record just handed to ``store_articles`` (new, or the copy it duplicates)."""
    return (Article.objects.filter(canonical_url=record.canonical_url).first()
            or Article.objects.filter(content_hash=record.content_hash).order_by("id").first())
