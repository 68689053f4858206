"""Application services: the operations the CLI (and later the web app) call.

This is where the framework-free pipeline meets the Django models: read
inputs, store articles once, draft an issue, export an issue.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q

from alliance_digest.db.models import Article, Issue, Story, StoryArticle
from alliance_digest.pipeline.compose import Composition, Window, compose, lead_image
from alliance_digest.pipeline.corrections import Corrections
from alliance_digest.pipeline.read import expand, read_input
from alliance_digest.pipeline.records import ArticleRecord, Problem, StoryArticle as ArticleView
from alliance_digest.pipeline.relevance import SCORER_VERSION, RelevanceScorer
from alliance_digest.pipeline.text import drop_controls
from alliance_digest.profile import Profile

BATCH = 500


class ServiceError(Exception):
    """A request that cannot be carried out (unknown issue, window taken...)."""


class NothingToDraft(ServiceError):
    """No article at all was published in the window: a draft would be an empty issue using up a number."""


# ----------------------------------------------------------------- ingest ---

@dataclass
class IngestReport:
    new: int = 0
    duplicate: int = 0
    enriched: int = 0
    superseded: int = 0  # copies replaced by their own outlet's item
    failed: int = 0  # inputs or items that could not be read
    inputs: int = 0
    inputs_failed: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        extra = f" ({self.enriched} with new details)" if self.enriched else ""
        if self.superseded:
            extra += f" ({self.superseded} copies replaced by their own outlet's item)"
        return (f"ingested {self.inputs} input(s): {self.new} new, {self.duplicate} duplicate{extra}, "
                f"{self.failed} failed")


MODEL_FILE = "relevance_model.json"


def model_path(profile: Profile) -> Path:
    """Where `digest learn` keeps the workspace's learned relevance model."""
    return profile.base_dir / MODEL_FILE


def topic_version(profile: Profile) -> str:
    """Changes whenever the topic profile or the learned model changes."""
    blob = json.dumps([SCORER_VERSION, dataclasses.asdict(profile.topic)], sort_keys=True)
    path = model_path(profile)
    if path.is_file():
        blob += hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_RULES_IF_MODEL_UNREADABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("rules_if_unreadable",
                                                                                   default=False)


@contextlib.contextmanager
def rules_if_model_unreadable():
    """Within this, a damaged learned model means scoring with the rules alone, not an error.

    For ``digest run``, which nobody watches: sources are still read and the
    draft still made (their scores carry the damaged file's version, so they
    are scored again once the model is learned anew); the runner tells the
    editors. Commands run by hand keep failing with the one-line reason.
    """
    token = _RULES_IF_MODEL_UNREADABLE.set(True)
    try:
        yield
    finally:
        _RULES_IF_MODEL_UNREADABLE.reset(token)


def make_scorer(profile: Profile):
    """The profile's rule scorer, combined with the learned model when there is one."""
    rules = RelevanceScorer(profile.topic)
    path = model_path(profile)
    if not path.is_file():
        return rules
    from alliance_digest.pipeline.learned import LearnedScorer, ModelUnreadable, RelevanceModel

    try:
        return LearnedScorer(rules, RelevanceModel.load(path))
    except ModelUnreadable:
        if _RULES_IF_MODEL_UNREADABLE.get():
            return rules
        raise


def _guid_key(guid: str | None) -> str | None:
    """GUIDs identify an item across feeds only when globally unique-looking."""
    if guid and (guid.startswith(("http://", "https://", "tag:", "urn:")) or len(guid) >= 20):
        return guid
    return None


_RECORD_TEXT = ("url", "canonical_url", "guid", "title", "summary", "text", "author", "source", "image",
                "image_alt", "origin")


def store_articles(records: list[ArticleRecord], profile: Profile, report: IngestReport,
                   scorer: RelevanceScorer | None = None, outlet: str | None = None) -> None:
    """Store new articles once; fill blanks of known ones; overwrite only a copy, by its outlet's own item.

    ``outlet``: the registered source (or the operator's ``--source``) the
    records were read from, never a name an item gives itself; when its
    site is an article's host, its item replaces a copy another source
    stored first under that URL (:func:`_supersede`).
    A batch the database refuses is written again one article at a time, so
    one bad item costs only itself (reported in ``report.problems``).
    """
    from alliance_digest.sources import with_db_sources

    scorer = scorer or make_scorer(profile)
    version = topic_version(profile)
    outlets = with_db_sources(profile) if outlet else None  # only an input from a known outlet may supersede
    for rec in records:
        for name in _RECORD_TEXT:
            setattr(rec, name, drop_controls(getattr(rec, name)))
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        urls = {r.canonical_url for r in batch}
        guids = {g for g in (_guid_key(r.guid) for r in batch) if g}
        hashes = {r.content_hash for r in batch if r.hash_identifies}
        existing = list(Article.objects.filter(
            Q(canonical_url__in=urls) | Q(guid__in=guids) | Q(content_hash__in=hashes)))
        by_url = {a.canonical_url: a for a in existing}
        by_guid = {a.guid: a for a in existing if a.guid}
        by_hash = {a.content_hash: a for a in existing}
        to_create: list[Article] = []
        to_update: dict[int, Article] = {}
        for rec in batch:
            known = by_url.get(rec.canonical_url) or by_guid.get(_guid_key(rec.guid) or "\0") \
                or (by_hash.get(rec.content_hash) if rec.hash_identifies else None)
            if known is not None:
                report.duplicate += 1
                if outlet and known.canonical_url == rec.canonical_url and known.source != outlet \
                        and outlets.owns(outlet, rec.canonical_url) \
                        and not outlets.owns(known.source, known.canonical_url):
                    _supersede(known, rec, scorer, version)
                    report.superseded += 1
                    if known.pk:
                        to_update[known.pk] = known
                    continue
                if _enrich(known, rec, scorer, version):
                    report.enriched += 1
                    if known.pk:
                        to_update[known.pk] = known
                continue
            rel = scorer.score(rec.title, rec.body)
            article = Article(
                canonical_url=rec.canonical_url, url=rec.url, guid=_guid_key(rec.guid) or rec.guid,
                content_hash=rec.content_hash, title=rec.title[:5000], summary=rec.summary,
                text=rec.text, author=(rec.author or None) and rec.author[:500],
                source=rec.source[:300], published=rec.published, image_url=rec.image,
                image_alt=rec.image_alt, origin=rec.origin[:2000], relevance=rel.score,
                relevance_explanation=rel.explanation(), relevance_version=version,
            )
            to_create.append(article)
            by_url[rec.canonical_url] = article
            if rec.hash_identifies:
                by_hash[rec.content_hash] = article
            if article.guid:
                by_guid[article.guid] = article
            report.new += 1
        try:
            with transaction.atomic():
                _write(to_create, list(to_update.values()))
        except DatabaseError:
            pending = to_create + list(to_update.values())
            failures_in_a_row = 0
            for k, article in enumerate(pending):
                try:
                    with transaction.atomic():
                        _write([article] if article.pk is None else [], [article] if article.pk else [])
                    failures_in_a_row = 0
                    continue
                except DatabaseError as exc:
                    failures_in_a_row += 1
                    first_line = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
                _not_stored(report, [article], f"{article.url}: not stored: {first_line}")
                if failures_in_a_row >= GIVE_UP_AFTER:  # the database itself is failing (a full disk): stop asking
                    rest = pending[k + 1:]
                    if rest:
                        _not_stored(report, rest, f"{len(rest)} more article(s) not stored: {first_line}")
                    break


GIVE_UP_AFTER = 10  # refused rows in a row: the database is failing, not the items


def _not_stored(report: IngestReport, articles: list[Article], line: str) -> None:
    for article in articles:
        if article.pk is None:
            report.new -= 1
        elif getattr(article, "superseded", False):
            report.superseded -= 1
        else:
            report.enriched -= 1
        report.failed += 1
    report.problems.append(Problem(articles[0].origin or articles[0].url, line))


_UPDATED_FIELDS = ["title", "source", "url", "origin", "content_hash", "text", "summary", "author", "image_url",
                   "image_alt", "published", "relevance", "relevance_explanation", "relevance_version"]


def _write(new: list[Article], changed: list[Article]) -> None:
    Article.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
    if changed:
        Article.objects.bulk_update(changed, _UPDATED_FIELDS, batch_size=BATCH)


def _supersede(known: Article, rec: ArticleRecord, scorer: RelevanceScorer, version: str) -> None:
    """The outlet's own item replaces a copy another source stored under its URL first.

    A newsletter or aggregator may list an outlet's URL with its own title
    and words; kept, the digest would quote those words as the outlet's (and
    with its authority). Only an article the copy's source does not own is
    replaced, and only by the source that owns the URL's host.
    """
    known.title, known.source, known.url = rec.title[:5000], rec.source[:300], rec.url
    known.origin, known.content_hash = rec.origin[:2000], rec.content_hash
    known.superseded = True  # for the counts, should the database refuse the change
    known.summary, known.text = rec.summary, rec.text
    known.author = (rec.author or None) and rec.author[:500]
    if rec.image:
        known.image_url, known.image_alt = rec.image, rec.image_alt
    known.published = rec.published or known.published
    rel = scorer.score(known.title, known.text or known.summary)
    known.relevance, known.relevance_explanation, known.relevance_version = rel.score, rel.explanation(), version


def _enrich(known: Article, rec: ArticleRecord, scorer: RelevanceScorer, version: str) -> bool:
    """Fill fields the stored article lacks (a page after its feed item)."""
    changed = False
    if not known.text and rec.text and len(rec.text) > len(known.summary or ""):
        known.text = rec.text
        changed = True
    for field_name, value in (("summary", rec.summary), ("author", rec.author),
                              ("image_url", rec.image), ("image_alt", rec.image_alt),
                              ("published", rec.published)):
        if not getattr(known, field_name) and value:
            setattr(known, field_name, value)
            changed = True
    if changed:
        rel = scorer.score(known.title, known.text or known.summary)
        known.relevance, known.relevance_explanation = rel.score, rel.explanation()
        known.relevance_version = version
    return changed


PROBLEMS_SHOWN_PER_INPUT = 20


def ingest(locations: Iterable[tuple[str, str, str | None]], profile: Profile,
           on_problem: Callable[[Problem], None] | None = None,
           progress: Callable[[int], None] | None = None) -> IngestReport:
    """Read each ``(location, kind, source name)`` and store what it holds.

    A bad input or item is reported through ``on_problem`` and never stops
    the rest; nothing stored is overwritten but a copy, by its outlet's own
    item (see :func:`store_articles`).
    """
    report = IngestReport()
    scorer = make_scorer(profile)
    user_agent = profile.user_agent
    policy = profile.fetch.policy(user_agent)
    emit = on_problem or (lambda p: None)
    for location, kind, name in locations:
        for item in expand(location):
            report.inputs += 1
            result = read_input(item, kind=kind, source_name=name, user_agent=user_agent, policy=policy)
            for k, problem in enumerate(result.problems):
                report.failed += 1
                report.problems.append(problem)
                if k < PROBLEMS_SHOWN_PER_INPUT:
                    emit(problem)
            if len(result.problems) > PROBLEMS_SHOWN_PER_INPUT:  # a file of the wrong kind: its first lines say why
                hidden = len(result.problems) - PROBLEMS_SHOWN_PER_INPUT
                emit(Problem(item, f"... and {hidden} more problem(s) like these; {len(result.articles)} item(s) read"))
            if result.fatal:
                report.failed += 1
                report.inputs_failed += 1
                report.problems.append(result.fatal)
                emit(result.fatal)
            if result.articles:
                already = len(report.problems)
                try:
                    store_articles(result.articles, profile, report, scorer, outlet=name)
                    refused = report.problems[already:]
                    for problem in refused[:PROBLEMS_SHOWN_PER_INPUT]:
                        emit(problem)
                    if len(refused) > PROBLEMS_SHOWN_PER_INPUT:
                        emit(Problem(item, f"... and {len(refused) - PROBLEMS_SHOWN_PER_INPUT} more line(s) "
                                           "about articles not stored"))
                except Exception as exc:  # noqa: BLE001 - the other inputs are still read
                    problem = Problem(item, f"could not be stored: {exc.__class__.__name__}: {exc}")
                    report.failed += 1
                    report.inputs_failed += 1
                    report.problems.append(problem)
                    emit(problem)
            if progress:
                progress(1)
    return report


def profile_locations(profile: Profile) -> list[tuple[str, str, str | None]]:
    return [(profile.resolve(s.url), s.kind, s.name) for s in profile.sources if s.enabled]


# ------------------------------------------------------------------ draft ---

def window_articles(window: Window) -> "Q":
    return (Q(published__gte=window.start_dt, published__lt=window.end_dt)
            | Q(published__isnull=True, ingested_at__gte=window.start_dt, ingested_at__lt=window.end_dt))


def refresh_relevance(profile: Profile, window: Window, only: "Q | None" = None,
                      before: Callable[[int], None] | None = None) -> int:
    """Re-score the window's articles (``only`` those matching, when given) scored under an older profile.

    In batches, so a year of articles after a `digest learn` costs time but
    not memory; ``before`` hears how many are about to be scored.
    """
    version = topic_version(profile)
    stale = Article.objects.filter(window_articles(window)).exclude(relevance_version=version)
    if only is not None:
        stale = stale.filter(only)
    ids = list(stale.values_list("id", flat=True))
    if not ids:
        return 0
    if before:
        before(len(ids))
    scorer = make_scorer(profile)
    for start in range(0, len(ids), BATCH):
        batch = list(Article.objects.filter(id__in=ids[start:start + BATCH]))
        for article in batch:
            rel = scorer.score(article.title, article.text or article.summary)
            article.relevance, article.relevance_explanation = rel.score, rel.explanation()
            article.relevance_version = version
        Article.objects.bulk_update(batch, ["relevance", "relevance_explanation", "relevance_version"],
                                    batch_size=BATCH)
    return len(ids)


def load_views(profile: Profile, window: Window) -> list[ArticleView]:
    from alliance_digest.sources import with_db_sources

    profile = with_db_sources(profile)  # authority of sources editors added or changed
    rows = Article.objects.filter(window_articles(window)).order_by("published", "id").values_list(
        "id", "url", "title", "text", "summary", "source", "published", "relevance", "image_url", "image_alt")
    views = []
    for pk, url, title, text, summary, source, published, relevance, image, alt in rows:
        views.append(ArticleView(
            id=pk, url=url, title=title, text=text, summary=summary, source=source,
            published=published, relevance=relevance, authority=profile.authority_for(source, url),
            image=image, image_alt=alt))
    return views


def previous_terms(exclude: Issue | None = None) -> list[dict[str, float]]:
    stories = Story.objects.filter(selected=True)
    if exclude is not None:
        stories = stories.exclude(issue=exclude)
    return [s.terms for s in stories.only("terms") if s.terms]


def grouping_corrections(window: Window, reviewed: Issue | None = None) -> Corrections:
    """The editors' grouping judgements among the window's articles (``pipeline/corrections.py``).

    Their merges and splits (any issue's) as article id pairs; and, for a
    ``reviewed`` draft an editor has changed, its stories as groups, so a
    redraft places new articles without regrouping what the editors saw.
    """
    from alliance_digest.learning import grouping_pairs

    pairs = grouping_pairs()
    links = {}
    if pairs:
        wanted = {url for pair in pairs for url in pair}
        id_of = {url: pk for url, pk in Article.objects.filter(window_articles(window))
                 .values_list("canonical_url", "id") if url in wanted}
        for (a, b), same in pairs.items():
            if a in id_of and b in id_of:
                x, y = sorted((id_of[a], id_of[b]))
                links[(x, y)] = same
    groups = {}
    if reviewed is not None:
        groups = dict(StoryArticle.objects.filter(story__issue=reviewed).order_by("-story_id")
                      .values_list("article_id", "story_id"))
    return Corrections(links, groups)


def compose_window(profile: Profile, window: Window, exclude: Issue | None = None,
                   keep_all: bool = False, reviewed: Issue | None = None) -> Composition:
    refresh_relevance(profile, window)
    views = load_views(profile, window)
    return compose(views, window, profile.stories, profile.ranking, profile.topic.threshold,
                   profile.grouping_threshold, previous_terms(exclude), keep_all=keep_all,
                   corrections=grouping_corrections(window, reviewed),
                   fold_developments=profile.grouping_fold_developments)


def next_number(profile: Profile) -> tuple[int, int]:
    last = Issue.objects.order_by("-volume", "-number").first()
    return profile.numbering.after(last.volume, last.number) if last else profile.numbering.first()


def window_of_days(start: date, end: date, zone: str) -> Window:
    """The window of days ``start``..``end`` in ``zone``, seamless with the issue before it.

    When the issue that ends the day before was drafted on another zone's
    days (``[digest] time_zone`` changed since, or the workspace predates
    it: UTC), this window starts exactly where that one ended, so no report
    falls between two issues or shows up in both.
    """
    window = Window(start, end, ZoneInfo(zone))
    before = (Issue.objects.filter(window_end=start - timedelta(days=1)).exclude(window_zone=zone)
              .order_by("-window_start").first())
    if before is not None:
        window.start_at = Window(before.window_start, before.window_end, ZoneInfo(before.window_zone)).end_dt
    return window


def issue_window(issue: Issue) -> Window:
    """The window an issue covers: its days in the zone it was drafted in."""
    return window_of_days(issue.window_start, issue.window_end, issue.window_zone)


def draft_issue(profile: Profile, window: Window, replace: bool = False,
                user=None, allow_empty: bool = True) -> tuple[Issue, Composition]:
    """Create the next issue for ``window``, or draft its unapproved draft again (``replace``).

    A redraft keeps the issue, its history and the editors' work (see
    ``editor.actions.redraft``); its ``redrafted`` history entry says what it did.
    ``allow_empty=False``: a window without a single article is refused
    (:class:`NothingToDraft`) rather than made an empty issue; the scheduled
    runner allows it (the editors fill a thin issue in), a hand-run draft
    does not (wrong dates are the likelier cause).
    """
    existing = Issue.objects.filter(window_start=window.start, window_end=window.end).first()
    # an existing issue keeps the days it was drafted on; a new one follows on from the issue before
    window = issue_window(existing) if existing is not None else window_of_days(window.start, window.end,
                                                                                  window.zone_name)
    if replace and existing is None:
        raise ServiceError(f"no issue holds a draft for {window.start}..{window.end}, so there is nothing to "
                           "redraft; leave out --replace to draft a new issue")
    if existing is not None:
        if existing.status != Issue.Status.DRAFT:
            raise ServiceError(f"issue {existing.key} for {window.start}..{window.end} is {existing.status}; it cannot be redrafted")
        if not replace:
            raise ServiceError(f"issue {existing.key} already holds a draft for {window.start}..{window.end}; "
                               f"pass --replace to redraft it (the editors' changes are kept)")
    from alliance_digest.editor.actions import EditError, edited, last_change, redraft

    seen = last_change(existing) if existing is not None else 0
    reviewed = existing if existing is not None and edited(existing) else None
    if not allow_empty and existing is None and not Article.objects.filter(window_articles(window)).exists():
        latest = Article.objects.exclude(published__isnull=True).order_by("-published").first()
        hint = f" (the latest stored article is from {latest.published.astimezone(window.zone):%Y-%m-%d})" \
            if latest else ""
        raise NothingToDraft(f"no article was published in {window.start}..{window.end}{hint}: ingest first "
                             "(`digest ingest`), or choose the window with --start and --end")
    composition = compose_window(profile, window, exclude=existing, reviewed=reviewed)
    if existing is not None:
        try:
            redraft(existing, composition, user, composed_after=seen)
        except EditError as exc:
            raise ServiceError(str(exc)) from None
        # the digest's title follows the profile until approval (a profile edited since the first draft)
        Issue.objects.filter(pk=existing.pk, status=Issue.Status.DRAFT).exclude(title=profile.title).update(
            title=profile.title)
        return Issue.objects.get(pk=existing.pk), composition
    try:
        with transaction.atomic():
            return _create_issue(profile, window, composition), composition
    except IntegrityError:  # another process drafted the same window (or took the number) meanwhile
        other = Issue.objects.filter(window_start=window.start, window_end=window.end).first()
        raise ServiceError(f"issue {other.key if other else '?'} for {window.start}..{window.end} was drafted by "
                           "another process at the same moment; nothing more was drafted") from None


def _create_issue(profile: Profile, window: Window, composition: Composition) -> Issue:
    """The new issue and its stories (inside the caller's transaction)."""
    volume, number = next_number(profile)
    image = lead_image(composition.selected)
    issue = Issue.objects.create(
        volume=volume, number=number, title=profile.title, date=window.end,
        window_start=window.start, window_end=window.end, window_zone=window.zone_name,
        notice=composition.notice(),
        image_url=(image.image if image else "") or "", image_alt=(image.image_alt if image else "") or "",
        image_credit=image.source if image else "", image_credit_url=image.url if image else "",
    )
    links = []
    for selected, stories in ((True, composition.selected), (False, composition.candidates)):
        for position, draft in enumerate(stories, start=1):
            story = Story.objects.create(
                issue=issue, selected=selected, position=position, headline=draft.headline,
                summary_markdown=draft.summary_markdown, score=draft.score, reasons=draft.reasons,
                terms=draft.terms_weights)
            links += [StoryArticle(story=story, article_id=a.id, position=k)
                      for k, a in enumerate(draft.articles, start=1)]
    StoryArticle.objects.bulk_create(links, batch_size=BATCH)
    return issue


# ----------------------------------------------------------------- export ---

def find_issue(key: str) -> Issue:
    """``latest`` or ``V.N`` (``2.20``) to an issue; one clear error otherwise."""
    key = (key or "").strip()
    if key == "latest":
        issue = Issue.objects.order_by("-volume", "-number").first()
        if issue is None:
            raise ServiceError("no issues yet: run `digest draft` first")
        return issue
    try:
        volume, number = (int(part) for part in key.replace("-", ".").split("."))
    except ValueError:
        raise ServiceError(f"{key!r} is not an issue number (expected V.N such as 2.20, or 'latest')") from None
    issue = Issue.objects.filter(volume=volume, number=number).first()
    if issue is None:
        raise ServiceError(f"issue {volume}.{number} not found")
    return issue


def _story_dict(headline: str, summary: str, score: float, reasons: dict, articles) -> dict:
    return {
        "headline": headline,
        "summary_markdown": summary,
        "score": round(score, 4),
        "reasons": reasons,
        "articles": [{"url": a.url, "source": a.source, "title": a.title,
                      "published": a.published.isoformat() if a.published else None} for a in articles],
    }


def issue_data(issue: Issue, profile: Profile, include_all: bool = False) -> dict:
    """The documented, stable JSON export of an issue (see docs/JSON.md)."""
    stories = issue.stories.prefetch_related("storyarticle_set__article").order_by("-selected", "position")
    def articles_of(story):
        return [link.article for link in sorted(story.storyarticle_set.all(), key=lambda l: l.position)]
    data = {
        "format": "alliance-digest-issue/1",
        "title": issue.title,
        "volume": issue.volume,
        "number": issue.number,
        "label": profile.numbering.label(issue.volume, issue.number),
        "date": issue.date.isoformat(),
        "status": issue.status,
        "window": {"start": issue.window_start.isoformat(), "end": issue.window_end.isoformat(),
                   "time_zone": issue.window_zone},
        "image": {"url": issue.image_url or None, "alt": issue.image_alt or None,
                  "credit": issue.image_credit or None, "credit_url": issue.image_credit_url or None},
        "intro": issue.intro,
        "notice": issue.notice or None,
        "footer": {"text": profile.footer, "contact_text": profile.contact_text, "contact": profile.contact},
        "language": profile.language,
        "date_text": profile.format_date(issue.date),
        "labels": dict(profile.labels),
        "stories": [], "candidates": [],
    }
    for story in stories:
        key = "stories" if story.selected else "candidates"
        data[key].append(_story_dict(story.headline, story.summary_markdown, story.score, story.reasons,
                                     articles_of(story)))
    if include_all:
        window = issue_window(issue)
        comp = compose_window(profile, window, exclude=issue, keep_all=True)
        data["all_stories"] = [_story_dict(s.headline, s.summary_markdown, s.score, s.reasons, s.articles)
                               for s in comp.all_stories]
    return data


def log(message: str) -> None:
    print(message, file=sys.stderr)
