"""What editors do to a draft: each change saved at once, recorded with its author and time.

Every function takes the issue's story and the acting user, changes the
stored order or text in one transaction, writes an :class:`IssueEdit` (the
history) and, for choices about which stories run and where, an
:class:`EditorDecision` (with the story's article URLs, so ranking can
learn from editors later). Only drafts can change: an approved issue's
content is frozen (:class:`Frozen`).

Positions: selected stories are numbered 1..n in reading order;
candidates 1..m in rank order.

Versions: every change to the content stores the issue's editable state
after it in ``IssueEdit.snapshot`` (:func:`snapshot`): the stories in order
with their text, articles, score and reasons, the issue's fields and its lead
image. Before the first such change the state as drafted is kept as a
``drafted`` version. :func:`restore` puts any version back as a new change,
recreating stories a merge deleted from their article ids.
"""

from __future__ import annotations

import hashlib
from django.db import transaction
from django.utils import timezone

from alliance_digest.db.models import EditorDecision, Issue, IssueEdit, Story


class EditError(Exception):
    """A change that cannot be made (one clear line for the editor)."""


class Frozen(EditError):
    pass


PUBLISH = IssueEdit.Action.PUBLISH


def check_draft(issue: Issue) -> None:
    if issue.status != Issue.Status.DRAFT:
        raise Frozen(f"Issue {issue.key} is {issue.status}: its content is frozen and can no longer be edited.")


def _locked_issue(issue: Issue, baseline: bool = True) -> Issue:
    """The issue re-read inside the transaction (row-locked where the database can), still a draft.

    Before the first change that keeps versions, the state as it is now is
    kept as the ``drafted`` version, so the machine's draft can be restored.
    """
    fresh = Issue.objects.select_for_update().get(pk=issue.pk)
    check_draft(fresh)
    if baseline and not fresh.edits.filter(snapshot__isnull=False).exists():
        earlier = fresh.edits.exists()
        IssueEdit.objects.create(issue=fresh, at=timezone.now(), action=IssueEdit.Action.DRAFTED,
                                 detail={"earlier_edits": earlier}, snapshot=snapshot(fresh))
    return fresh


def _story(issue: Issue, story_id) -> Story:
    try:
        return Story.objects.select_for_update().get(pk=int(story_id), issue=issue)
    except (Story.DoesNotExist, TypeError, ValueError):
        raise EditError("That story is not part of this issue (the page may be out of date; reload it).") from None


def _article_urls(story: Story) -> list[str]:
    return [link.article.canonical_url for link in story.storyarticle_set.select_related("article").order_by("position")]


# changes to the content: each keeps the state after it as a version
VERSIONED = {IssueEdit.Action.INCLUDE, IssueEdit.Action.DROP, IssueEdit.Action.MOVE, IssueEdit.Action.REORDER,
             IssueEdit.Action.EDIT, IssueEdit.Action.MERGE, IssueEdit.Action.SPLIT, IssueEdit.Action.ADD,
             IssueEdit.Action.IMAGE, IssueEdit.Action.FIELDS, IssueEdit.Action.RESTORE}
KEEPS_VERSION = VERSIONED | {IssueEdit.Action.REDRAFTED}  # the machine's redraft too, but it is no editor's change


def _record(issue: Issue, user, action: str, story: Story | None = None, **detail) -> IssueEdit:
    now = timezone.now()
    Issue.objects.filter(pk=issue.pk).update(updated_at=now)
    return IssueEdit.objects.create(issue=issue, story=story, user=user if user and user.pk else None,
                                    username=getattr(user, "username", "") or "", at=now, action=action,
                                    detail=detail, snapshot=snapshot(issue) if action in KEEPS_VERSION else None)


def _decide(issue: Issue, user, story: Story, decision: str, before: int | None, after: int | None,
            urls: list[str] | None = None, other_urls: list[str] | None = None) -> None:
    EditorDecision.objects.create(
        issue=issue, story=story, user=user if user and user.pk else None,
        username=getattr(user, "username", "") or "", at=timezone.now(), decision=decision,
        position_before=before, position_after=after, headline=story.headline, score=story.score,
        reasons=story.reasons or {}, article_urls=_article_urls(story) if urls is None else urls,
        other_urls=other_urls or [])


def _renumber(stories: list[Story]) -> None:
    for position, story in enumerate(stories, start=1):
        if story.position != position:
            story.position = position
            story.save(update_fields=["position"])


def _follow_lead_image(issue: Issue) -> None:
    """The lead image is the top story's (its best source first), as when drafting,
    until an editor chooses one (``Issue.image_chosen``)."""
    if Issue.objects.filter(pk=issue.pk, image_chosen=True).exists():
        return
    for story in selected(issue):
        link = (story.storyarticle_set.select_related("article").exclude(article__image_url__isnull=True)
                .exclude(article__image_url="").order_by("position").first())
        if link is not None:
            article = link.article
            Issue.objects.filter(pk=issue.pk).update(
                image_url=article.image_url, image_alt=article.image_alt or "", image_credit=article.source,
                image_credit_url=article.url)
            return


def selected(issue: Issue) -> list[Story]:
    return list(issue.stories.filter(selected=True).order_by("position", "id"))


def candidates(issue: Issue) -> list[Story]:
    return list(issue.stories.filter(selected=False).order_by("position", "id"))


def include(issue: Issue, story_id, user) -> Story:
    """A candidate joins the selected stories, last."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
        if story.selected:
            raise EditError(f"“{story.headline}” is already selected.")
        chosen = selected(issue)
        story.selected, story.position = True, len(chosen) + 1
        story.save(update_fields=["selected", "position"])
        _renumber(candidates(issue))
        _follow_lead_image(issue)
        _record(issue, user, IssueEdit.Action.INCLUDE, story, headline=story.headline, position=story.position)
        _decide(issue, user, story, EditorDecision.Decision.INCLUDED, None, story.position)
    return story


def drop(issue: Issue, story_id, user) -> Story:
    """A selected story goes back among the candidates, at the place its score gives it."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
        if not story.selected:
            raise EditError(f"“{story.headline}” is not among the selected stories.")
        before = story.position
        others = candidates(issue)
        at = next((k for k, s in enumerate(others) if s.score < story.score), len(others))
        story.selected = False
        story.position = 0
        story.save(update_fields=["selected", "position"])
        _renumber(others[:at] + [story] + others[at:])
        _renumber(selected(issue))
        _follow_lead_image(issue)
        _record(issue, user, IssueEdit.Action.DROP, story, headline=story.headline, position=before)
        _decide(issue, user, story, EditorDecision.Decision.DROPPED, before, None)
    return story


def move(issue: Issue, story_id, direction: str, user) -> Story:
    """A selected story swaps places with the one above (``up``) or below (``down``)."""
    if direction not in ("up", "down"):
        raise EditError("Move a story up or down.")
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
        if not story.selected:
            raise EditError("Only selected stories can be moved.")
        order = selected(issue)
        index = next(k for k, s in enumerate(order) if s.pk == story.pk)
        target = index - 1 if direction == "up" else index + 1
        if not 0 <= target < len(order):
            raise EditError(f"“{story.headline}” is already {'first' if direction == 'up' else 'last'}.")
        order[index], order[target] = order[target], order[index]
        _apply_order(issue, order, user, IssueEdit.Action.MOVE, story, direction=direction)
    return story


def reorder(issue: Issue, story_ids: list, user) -> None:
    """The selected stories in the order given (every selected story, each once)."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        order = selected(issue)
        by_id = {s.pk: s for s in order}
        try:
            wanted = [int(i) for i in story_ids]
        except (TypeError, ValueError):
            raise EditError("The new order could not be read.") from None
        if sorted(wanted) != sorted(by_id):
            raise EditError("The selected stories changed meanwhile; reload the page and try again.")
        new = [by_id[i] for i in wanted]
        if new == order:
            return
        _apply_order(issue, new, user, IssueEdit.Action.REORDER, None)


def _apply_order(issue: Issue, order: list[Story], user, action: str, story: Story | None, **detail) -> None:
    before = {s.pk: s.position for s in order}
    _renumber(order)
    _follow_lead_image(issue)
    moved = [s for s in order if before[s.pk] != s.position]
    _record(issue, user, action, story, order=[{"id": s.pk, "headline": s.headline} for s in order],
            moved=[{"headline": s.headline, "from": before[s.pk], "to": s.position} for s in moved], **detail)
    for s in moved:
        _decide(issue, user, s, EditorDecision.Decision.REORDERED, before[s.pk], s.position)


def text_version(headline: str, summary_markdown: str) -> str:
    """A short fingerprint of a story's text, carried by the edit form (``base``)."""
    return hashlib.sha256(f"{headline}\0{summary_markdown}".encode()).hexdigest()[:16]


def edit(issue: Issue, story_id, headline: str, summary_markdown: str, user, base: str = "") -> bool:
    """New headline and summary (Markdown); False when nothing changed.

    ``base``: the :func:`text_version` the editor's form started from. When
    the story's text has changed since (another editor saved), the save is
    refused, so neither editor's work is silently undone.
    """
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
        if base and base != text_version(story.headline, story.summary_markdown) and \
                (headline, summary_markdown) != (story.headline, story.summary_markdown):
            last = issue.edits.filter(story=story, action=IssueEdit.Action.EDIT).first()
            who = f" by {last.username or 'another editor'} at {timezone.localtime(last.at):%H:%M %Z}" if last else ""
            raise EditError(f"Not saved: “{story.headline}” was changed{who} while you were editing. "
                            "Your text is kept in the form: compare it with the story as it is now and save again.")
        changes = {}
        if headline != story.headline:
            changes["headline"] = {"before": story.headline, "after": headline}
        if summary_markdown != story.summary_markdown:
            changes["summary"] = {"before": story.summary_markdown, "after": summary_markdown}
        if not changes:
            return False
        story.headline, story.summary_markdown = headline, summary_markdown
        story.save(update_fields=["headline", "summary_markdown"])
        _record(issue, user, IssueEdit.Action.EDIT, story, story_headline=headline, **changes)
    return True


def approve(profile, issue: Issue, user) -> Issue:
    """Approve through :func:`delivery.approve` (which freezes the content) and record the final choice."""
    from alliance_digest import delivery

    with transaction.atomic():
        issue = _locked_issue(issue, baseline=False)
        try:
            delivery.approve(profile, issue, by=user.username)
        except delivery.DeliveryError as exc:
            raise EditError(_sentence(str(exc))) from None
        _record(issue, user, IssueEdit.Action.APPROVE, None, stories=[s.headline for s in selected(issue)])
        for story in selected(issue):
            _decide(issue, user, story, EditorDecision.Decision.APPROVED, story.position, story.position)
    return issue


def publish(profile, issue: Issue, user) -> Issue:
    """Put an approved issue on the public archive (:func:`publishing.publish`), record it, make its PDF."""
    from alliance_digest import publishing

    with transaction.atomic():
        fresh = Issue.objects.select_for_update().get(pk=issue.pk)
        try:
            fresh = publishing.publish(profile, fresh)
        except publishing.PublishError as exc:
            raise EditError(_sentence(str(exc))) from None
        _record(fresh, user, PUBLISH, None, permalink=publishing.permalink(profile, fresh))
        # the PDF edition, made in the background, so that its first reader does not wait for it
        transaction.on_commit(lambda: publishing.warm_pdf_edition(profile, fresh))
    return fresh


# ------------------------------------------------------------- versions ---

SNAPSHOT_FORMAT = 1


def snapshot(issue: Issue) -> dict:
    """The issue's editable state, enough to rebuild it (stories a merge deleted included)."""
    fresh = Issue.objects.get(pk=issue.pk)
    stories = fresh.stories.prefetch_related("storyarticle_set").order_by("-selected", "position", "id")
    return {
        "format": SNAPSHOT_FORMAT,
        "fields": {"date": fresh.date.isoformat(), "volume": fresh.volume, "number": fresh.number,
                   "intro": fresh.intro},
        "image": {"url": fresh.image_url, "alt": fresh.image_alt, "credit": fresh.image_credit,
                  "credit_url": fresh.image_credit_url, "chosen": fresh.image_chosen},
        "stories": [{
            "id": s.pk, "selected": s.selected, "position": s.position, "headline": s.headline,
            "summary_markdown": s.summary_markdown, "score": s.score, "reasons": s.reasons or {},
            "terms": s.terms or {},
            "articles": [link.article_id for link in sorted(s.storyarticle_set.all(), key=lambda l: l.position)],
        } for s in stories],
        # the merges and splits in force: restoring this version withdraws those made after it
        "grouping_decisions": sorted(_grouping_decisions(fresh).filter(withdrawn=False).values_list("pk", flat=True)),
    }


def _grouping_decisions(issue: Issue):
    return EditorDecision.objects.filter(
        issue=issue, decision__in=[EditorDecision.Decision.MERGED, EditorDecision.Decision.SPLIT])


def restore(issue: Issue, edit_id, user) -> IssueEdit:
    """Put the state kept with an earlier change back, as a new change (so it can be undone in turn)."""
    from datetime import date as _date

    from alliance_digest.db.models import Article, StoryArticle

    with transaction.atomic():
        issue = _locked_issue(issue)
        try:
            version = IssueEdit.objects.get(pk=int(edit_id), issue=issue, snapshot__isnull=False)
        except (IssueEdit.DoesNotExist, TypeError, ValueError):
            raise EditError("That version is not in this issue's history (reload the page).") from None
        state = version.snapshot
        if state.get("format") != SNAPSHOT_FORMAT:
            raise EditError("That version was kept in a format this program cannot read.")
        fields, image = state["fields"], state["image"]
        _check_number_free(issue, fields["volume"], fields["number"])
        Issue.objects.filter(pk=issue.pk).update(
            date=_date.fromisoformat(fields["date"]), volume=fields["volume"], number=fields["number"],
            intro=fields["intro"], image_url=image["url"], image_alt=image["alt"], image_credit=image["credit"],
            image_credit_url=image["credit_url"], image_chosen=image["chosen"])
        existing = {s.pk: s for s in issue.stories.all()}
        known_articles = set(Article.objects.filter(
            pk__in={a for rec in state["stories"] for a in rec["articles"]}).values_list("pk", flat=True))
        kept, recreated = set(), []
        for rec in state["stories"]:
            values = {k: rec[k] for k in ("selected", "position", "headline", "summary_markdown", "score",
                                          "reasons", "terms")}
            story = existing.get(rec["id"])
            if story is None:  # deleted since (merged away, or restored out): back under its old id if free
                pk = None if Story.objects.filter(pk=rec["id"]).exists() else rec["id"]
                story = Story.objects.create(pk=pk, issue=issue, **values)
                recreated.append(story.headline)
            else:
                for key, value in values.items():
                    setattr(story, key, value)
                story.save(update_fields=list(values))
            kept.add(story.pk)
            wanted = [a for a in rec["articles"] if a in known_articles]
            have = list(story.storyarticle_set.order_by("position").values_list("article_id", flat=True))
            if have != wanted:
                story.storyarticle_set.all().delete()
                StoryArticle.objects.bulk_create(
                    [StoryArticle(story=story, article_id=a, position=k) for k, a in enumerate(wanted, start=1)])
        removed = [s.headline for pk, s in existing.items() if pk not in kept]
        issue.stories.exclude(pk__in=kept).delete()
        # the editors' merges and splits are those in force in the version (``learning.grouping_pairs``)
        decisions = _grouping_decisions(issue)
        if "grouping_decisions" in state:
            in_force = set(state["grouping_decisions"])
        else:  # a version kept before this was recorded: those made by then
            in_force = set(decisions.filter(at__lte=version.at).values_list("pk", flat=True))
        decisions.exclude(pk__in=in_force).update(withdrawn=True)
        decisions.filter(pk__in=in_force).update(withdrawn=False)
        issue = Issue.objects.get(pk=issue.pk)
        _record(issue, user, IssueEdit.Action.RESTORE, None, version=version.pk,
                version_at=version.at.isoformat(), version_by=version.username,
                version_what=describe(version), recreated=recreated, removed=removed)
    return version


# -------------------------------------------------------- merge and split ---

def merge(profile, issue: Issue, target_id, absorbed_id, user) -> tuple[Story, Story]:
    """``absorbed``'s articles join ``target`` (after its own, without repeats); ``absorbed`` disappears.

    The target keeps its headline, summary, place and terms; its score and
    reasons are worked out again from the combined coverage.
    """
    from alliance_digest.db.models import StoryArticle
    from alliance_digest.editor.drafting import rescore

    with transaction.atomic():
        issue = _locked_issue(issue)
        target, absorbed = _story(issue, target_id), _story(issue, absorbed_id)
        if target.pk == absorbed.pk:
            raise EditError("Choose two different stories to merge.")
        target_urls, absorbed_urls = _article_urls(target), _article_urls(absorbed)
        have = list(target.storyarticle_set.order_by("position").values_list("article_id", flat=True))
        incoming = absorbed.storyarticle_set.order_by("position").values_list("article_id", flat=True)
        added = [a for a in incoming if a not in have]
        StoryArticle.objects.bulk_create([StoryArticle(story=target, article_id=a, position=len(have) + k)
                                          for k, a in enumerate(added, start=1)])
        gone = {"id": absorbed.pk, "headline": absorbed.headline, "selected": absorbed.selected}
        absorbed.delete()
        rescore(profile, issue, target)
        _renumber(selected(issue))
        _renumber(candidates(issue))
        _follow_lead_image(issue)
        _decide(issue, user, target, EditorDecision.Decision.MERGED, None, None, target_urls, absorbed_urls)
        _record(issue, user, IssueEdit.Action.MERGE, target, headline=target.headline, absorbed=gone,
                articles_added=len(added))  # after the decision: its version holds it
    return target, absorbed


def split(profile, issue: Issue, story_id, article_ids: list, user) -> Story:
    """The chosen articles leave the story for a new candidate story, drafted and scored like the machine's.

    The story they left is drafted again from the articles it keeps, unless
    an editor wrote its text (then it is theirs to adjust): a machine draft
    must not go on quoting and linking articles that are no longer its own.
    ``Story.redrafted`` (an attribute of the returned story) says which.
    """
    from alliance_digest.db.models import StoryArticle
    from alliance_digest.editor.drafting import draft_story, rescore

    try:
        chosen_ids = {int(a) for a in article_ids}
    except (TypeError, ValueError):
        raise EditError("The articles to split out could not be read (reload the page).") from None
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
        links = list(story.storyarticle_set.select_related("article").order_by("position"))
        moving = [link for link in links if link.article_id in chosen_ids]
        if not moving or len(moving) != len(chosen_ids):
            raise EditError(f"Tick the articles of “{story.headline}” to split out.")
        if len(moving) == len(links):
            raise EditError(f"Leave at least one article in “{story.headline}”: a story cannot be split "
                            "into itself (drop it instead).")
        stayed_urls = [link.article.canonical_url for link in links if link not in moving]
        moved_urls = [link.article.canonical_url for link in moving]
        StoryArticle.objects.filter(pk__in=[link.pk for link in moving]).delete()
        for position, link in enumerate((l for l in links if l not in moving), start=1):
            if link.position != position:
                link.position = position
                link.save(update_fields=["position"])
        draft = draft_story(profile, issue, [link.article for link in moving])
        new = _place_candidate(issue, draft)
        written = issue.edits.filter(story=story, action__in=[IssueEdit.Action.EDIT, IssueEdit.Action.ADD]).exists()
        if written:
            rescore(profile, issue, story)
        else:
            again = draft_story(profile, issue, [link.article for link in links if link not in moving])
            story.headline, story.summary_markdown = again.headline, again.summary_markdown
            story.score, story.reasons, story.terms = again.score, again.reasons, again.terms_weights
            story.save(update_fields=["headline", "summary_markdown", "score", "reasons", "terms"])
        new.redrafted = not written
        _follow_lead_image(issue)
        _decide(issue, user, story, EditorDecision.Decision.SPLIT, None, None, stayed_urls, moved_urls)
        _record(issue, user, IssueEdit.Action.SPLIT, new, headline=new.headline,
                source={"id": story.pk, "headline": story.headline}, articles=len(moving))
    return new


def _place_candidate(issue: Issue, draft) -> Story:
    """A new candidate story from a drafted one, at the place its score gives it."""
    from alliance_digest.db.models import StoryArticle

    story = Story.objects.create(issue=issue, selected=False, position=0, headline=draft.headline,
                                 summary_markdown=draft.summary_markdown, score=draft.score,
                                 reasons=draft.reasons, terms=draft.terms_weights)
    StoryArticle.objects.bulk_create([StoryArticle(story=story, article_id=a.id, position=k)
                                      for k, a in enumerate(draft.articles, start=1)])
    others = [s for s in candidates(issue) if s.pk != story.pk]
    at = next((k for k, s in enumerate(others) if s.score < story.score), len(others))
    _renumber(others[:at] + [story] + others[at:])
    return story


# ---------------------------------------------------------- added stories ---

def add_from_urls(profile, issue: Issue, text: str, user) -> tuple[Story | None, list[str]]:
    """A new selected story (last) from the articles at the pasted URLs; ``(story, one line per URL refused)``.

    URLs are fetched before the issue is locked (they may be slow); each must
    pass the profile's URL safety check. A URL that cannot be read is
    reported and the others are still added.
    """
    from alliance_digest.editor.drafting import MAX_URLS, PasteError, draft_story, read_pasted_all, split_urls, \
        stored_article
    from alliance_digest.pipeline.urls import canonicalise
    from alliance_digest.services import IngestReport, store_articles

    check_draft(Issue.objects.get(pk=issue.pk))
    urls = split_urls(text)
    if not urls:
        raise EditError("Paste at least one URL (one per line).")
    if len(urls) > MAX_URLS:
        raise EditError(f"Paste at most {MAX_URLS} URLs at a time ({len(urls)} given).")
    records, errors = [], []
    already = _already_in_issue(issue)
    fresh = []
    for url in urls:  # an article the issue already holds is not added twice
        try:
            where = already.get(canonicalise(url if "://" in url else f"https://{url}"))
        except Exception:  # noqa: BLE001 - a bad URL is refused with its reason by the reader below
            where = None
        if where:
            errors.append(f"{url}: already in {where}")
        else:
            fresh.append(url)
    if not fresh:
        return None, errors
    for outcome in read_pasted_all(profile, fresh):
        if isinstance(outcome, PasteError):
            errors.append(str(outcome))  # starts with the URL
        else:
            records.append(outcome)
    if not records:
        return None, errors
    store_articles(records, profile, IngestReport())
    articles = []
    for record in records:
        article = stored_article(record)
        if article is not None and article not in articles:
            articles.append(article)
    draft = draft_story(profile, issue, articles)
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _append_selected(issue, draft.headline, draft.summary_markdown, draft.score, draft.reasons,
                                 draft.terms_weights, [a.pk for a in articles])
        _record(issue, user, IssueEdit.Action.ADD, story, headline=story.headline,
                urls=[a.url for a in articles], position=story.position, refused=errors)
        _decide(issue, user, story, EditorDecision.Decision.INCLUDED, None, story.position)
    return story, errors


def _already_in_issue(issue: Issue) -> dict[str, str]:
    """Canonical URL -> where the issue holds it ("story 2 “...”", or a candidate to include)."""
    from alliance_digest.db.models import StoryArticle

    where = {}
    links = StoryArticle.objects.filter(story__issue=issue).select_related("story", "article")
    for link in links.order_by("-story__selected", "story__position"):
        story = link.story
        place = (f"story {story.position} “{story.headline}”" if story.selected
                 else f"candidate {story.position} “{story.headline}” (include it instead)")
        where.setdefault(link.article.canonical_url, place)
    return where


def write_story(issue: Issue, headline: str, summary_markdown: str, user) -> Story:
    """A story an editor wrote (no articles), selected, last."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _append_selected(issue, headline, summary_markdown, 0.0, {"written_by": user.username}, {}, [])
        _record(issue, user, IssueEdit.Action.ADD, story, headline=headline, written=True,
                position=story.position)
    return story


def _append_selected(issue: Issue, headline, summary, score, reasons, terms, article_ids) -> Story:
    from alliance_digest.db.models import StoryArticle

    story = Story.objects.create(issue=issue, selected=True, position=len(selected(issue)) + 1,
                                 headline=headline, summary_markdown=summary, score=score, reasons=reasons,
                                 terms=terms)
    StoryArticle.objects.bulk_create([StoryArticle(story=story, article_id=a, position=k)
                                      for k, a in enumerate(article_ids, start=1)])
    _follow_lead_image(issue)
    return story


# ------------------------------------------------------------- lead image ---

AUTOMATIC, NO_IMAGE = "auto", "none"


def image_choices(issue: Issue) -> list:
    """The articles (of the selected stories, then candidates) with an image, one per image URL."""
    from alliance_digest.db.models import StoryArticle

    links = (StoryArticle.objects.filter(story__issue=issue).exclude(article__image_url__isnull=True)
             .exclude(article__image_url="").select_related("article", "story")
             .order_by("-story__selected", "story__position", "position"))
    seen, found = set(), []
    for link in links:
        if link.article.image_url not in seen:
            seen.add(link.article.image_url)
            found.append(link)
    return found


def choose_image(issue: Issue, choice: str, user) -> str:
    """``auto`` (follow the top story again), ``none``, or an article id among :func:`image_choices`."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        before = issue.image_url
        if choice == AUTOMATIC:
            Issue.objects.filter(pk=issue.pk).update(image_chosen=False)
            _follow_lead_image(issue)
            detail = {"automatic": True}
        elif choice == NO_IMAGE:
            Issue.objects.filter(pk=issue.pk).update(image_chosen=True, image_url="", image_alt="",
                                                     image_credit="", image_credit_url="")
            detail = {"none": True}
        else:
            link = next((l for l in image_choices(issue) if str(l.article_id) == str(choice)), None)
            if link is None:
                raise EditError("That image is not among this issue's stories (reload the page).")
            article = link.article
            Issue.objects.filter(pk=issue.pk).update(
                image_chosen=True, image_url=article.image_url, image_alt=article.image_alt or "",
                image_credit=article.source, image_credit_url=article.url)
            detail = {"url": article.image_url, "credit": article.source, "story_headline": link.story.headline}
        after = Issue.objects.get(pk=issue.pk)
        _record(after, user, IssueEdit.Action.IMAGE, None, before=before, after=after.image_url, **detail)
    return after.image_url


def edit_credit(issue: Issue, alt: str, credit: str, credit_url: str, user) -> bool:
    """New alt text and credit of the lead image (it then stays as chosen); False when nothing changed."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        changes = {name: {"before": old, "after": new} for name, old, new in (
            ("alt", issue.image_alt, alt), ("credit", issue.image_credit, credit),
            ("credit_url", issue.image_credit_url, credit_url)) if old != new}
        if not changes:
            return False
        if not issue.image_url:
            raise EditError("There is no lead image to credit: choose one first.")
        Issue.objects.filter(pk=issue.pk).update(image_alt=alt, image_credit=credit, image_credit_url=credit_url,
                                                 image_chosen=True)
        _record(issue, user, IssueEdit.Action.IMAGE, None, credit_edit=changes)
    return True


# ----------------------------------------------------------- issue fields ---

def _check_number_free(issue: Issue, volume: int, number: int) -> None:
    other = Issue.objects.filter(volume=volume, number=number).exclude(pk=issue.pk).first()
    if other is not None:
        raise EditError(f"Number {volume}.{number} is already taken by another issue ({other.status}, "
                        f"dated {other.date:%Y-%m-%d}); choose another number.")


def edit_fields(issue: Issue, date, volume: int, number: int, intro: str, user) -> Issue:
    """Date, volume and number (unique), and the intro (Markdown). Returns the issue as saved."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        new = {"date": date, "volume": volume, "number": number, "intro": intro}
        changes = {k: {"before": str(getattr(issue, k)), "after": str(v)}
                   for k, v in new.items() if getattr(issue, k) != v}
        if not changes:
            return issue
        if volume != issue.volume or number != issue.number:
            _check_number_free(issue, volume, number)
        Issue.objects.filter(pk=issue.pk).update(**new)
        issue = Issue.objects.get(pk=issue.pk)
        _record(issue, user, IssueEdit.Action.FIELDS, None, **changes)
    return issue


def record_send(issue: Issue, user, **detail) -> None:
    _record(issue, user, IssueEdit.Action.SEND, None, **detail)


def record_test_send(issue: Issue, user, addresses: list[str], error: str = "") -> None:
    _record(issue, user, IssueEdit.Action.TEST_SEND, None, to=addresses, error=error)


def describe(edit: IssueEdit) -> str:
    """The history line's "what" (plain text; the template escapes it)."""
    d = edit.detail or {}
    if edit.action == IssueEdit.Action.INCLUDE:
        return f"included “{d.get('headline', '')}” (now #{d.get('position')})"
    if edit.action == IssueEdit.Action.DROP:
        return f"dropped “{d.get('headline', '')}” (was #{d.get('position')})"
    if edit.action in (IssueEdit.Action.MOVE, IssueEdit.Action.REORDER):
        moved = list(d.get("moved", []))
        if edit.action == IssueEdit.Action.MOVE:  # the story the editor moved first, then the one it passed
            up = d.get("direction") == "up"
            moved.sort(key=lambda m: (m["to"] < m["from"]) != up)
            main, *others = moved or [{"headline": "", "from": "?", "to": "?"}]
            passed = "; ".join(f"“{m['headline']}” #{m['from']} → #{m['to']}" for m in others)
            return (f"moved “{main['headline']}” {d.get('direction', '')}: #{main['from']} → #{main['to']}"
                    + (f" (past {passed})" if passed else ""))
        moves = "; ".join(f"“{m['headline']}” #{m['from']} → #{m['to']}" for m in moved)
        return f"reordered: {moves}"
    if edit.action == IssueEdit.Action.EDIT:
        parts = []
        if "headline" in d:
            parts.append(f"headline “{d['headline']['before']}” → “{d['headline']['after']}”")
        if "summary" in d:
            parts.append("summary rewritten" if "headline" in d else f"summary of “{d.get('story_headline', '')}” rewritten")
        return "edited " + "; ".join(parts)
    if edit.action == IssueEdit.Action.APPROVE:
        return f"approved with {len(d.get('stories', []))} stories"
    if edit.action == PUBLISH:
        return "published on the public archive"
    if edit.action == IssueEdit.Action.MERGE:
        return (f"merged “{d.get('absorbed', {}).get('headline', '')}” into “{d.get('headline', '')}” "
                f"({d.get('articles_added', 0)} articles added)")
    if edit.action == IssueEdit.Action.SPLIT:
        return (f"split {d.get('articles')} article(s) out of “{d.get('source', {}).get('headline', '')}” "
                f"into the new candidate “{d.get('headline', '')}”")
    if edit.action == IssueEdit.Action.ADD:
        how = "wrote" if d.get("written") else f"added from {len(d.get('urls', []))} URL(s)"
        return f"{how} “{d.get('headline', '')}” (now #{d.get('position')})"
    if edit.action == IssueEdit.Action.IMAGE:
        if "credit_edit" in d:
            return "edited the lead image's " + ", ".join(
                f"{k.replace('_', ' ')} → “{v['after']}”" for k, v in d["credit_edit"].items())
        if d.get("automatic"):
            return "let the lead image follow the top story again"
        if d.get("none"):
            return "removed the lead image"
        return f"chose the lead image of “{d.get('story_headline', '')}” (credit {d.get('credit', '')})"
    if edit.action == IssueEdit.Action.FIELDS:
        return "edited " + "; ".join(
            f"{k} “{v['before']}” → “{v['after']}”" if k != "intro" else "the intro" for k, v in d.items())
    if edit.action == IssueEdit.Action.RESTORE:
        return f"restored the version of {d.get('version_at', '')[:19].replace('T', ' ')} ({d.get('version_what', '')})"
    if edit.action == IssueEdit.Action.DRAFTED:
        return ("the issue as it was before the next change (earlier edits kept no version)"
                if d.get("earlier_edits") else "the machine's draft")
    if edit.action == IssueEdit.Action.REDRAFTED:
        return redraft_summary(d)
    if edit.action == IssueEdit.Action.SEND:
        return f"started the email delivery to {d.get('recipients', '?')} subscriber(s)"
    if edit.action == IssueEdit.Action.TEST_SEND:
        to = ", ".join(d.get("to", []))
        return f"test send to {to} failed: {d['error']}" if d.get("error") else f"test email sent to {to}"
    return edit.action


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "."


# ---------------------------------------------------------------- redraft ---

def edited(issue: Issue) -> bool:
    """Whether an editor has changed the issue's content (a redraft then keeps their work)."""
    return issue.edits.filter(action__in=list(VERSIONED)).exists()


def last_change(issue: Issue) -> int:
    """The id of the issue's latest history entry (0: none): what a redraft was composed against."""
    return issue.edits.order_by("-id").values_list("pk", flat=True).first() or 0


def redraft(issue: Issue, composition, user=None, composed_after: int | None = None) -> dict:
    """Put a new composition of the window into a draft without losing what editors did.

    The issue itself stays (its number, intro, history, the editors'
    decisions that ``digest learn`` reads). If no editor has changed the
    draft, its stories become the new composition's. Otherwise:

    - a story whose articles are unchanged stays exactly as the editors left
      it (text, selected or not, place);
    - a story whose coverage changed takes the place and the selected or
      candidate state of the old story it shares most articles with; its
      text is drafted again, unless an editor wrote it (then the text stays
      and the new articles join its sources);
    - a story sharing no article with the old draft is new: it goes to the
      top of the candidates, marked, so the editors' selection is never
      changed behind their backs (a story whose articles all belonged to a
      story another one continues joins the candidates unmarked);
    - an old story whose articles are no longer in any story stays if it is
      selected or an editor touched it (a story added by URL, or written);
      otherwise (a machine candidate the window no longer proposes) it goes.

    The state before is kept as a version (restorable from the history).
    ``composed_after``: :func:`last_change` when the composition was made;
    if an editor changed the draft since, nothing is done (the composition
    did not see that change, and applying it could undo it).
    Returns what happened, for the history line and the command's output.
    """
    from alliance_digest.db.models import StoryArticle

    with transaction.atomic():
        issue = _locked_issue(issue)
        if composed_after is not None and issue.edits.filter(pk__gt=composed_after).exclude(
                action=IssueEdit.Action.DRAFTED).exists():
            raise EditError(f"Issue {issue.key} was changed while it was being drafted again; nothing was "
                            "changed by the redraft: try again.")
        old = list(issue.stories.prefetch_related("storyarticle_set").order_by("-selected", "position", "id"))
        was_edited = edited(issue)
        touched = set(issue.edits.filter(story__isnull=False).values_list("story_id", flat=True))
        written = set(issue.edits.filter(story__isnull=False, action__in=[IssueEdit.Action.EDIT, IssueEdit.Action.ADD])
                      .values_list("story_id", flat=True))
        ids_of = {s.pk: [link.article_id for link in sorted(s.storyarticle_set.all(), key=lambda l: l.position)]
                  for s in old}
        drafts = [(True, d) for d in composition.selected] + [(False, d) for d in composition.candidates]
        report = {"edited": was_edited, "kept": [], "refreshed": [], "new": [], "removed": []}

        def create(draft, selected: bool, position: int, new: bool = False) -> Story:
            reasons = dict(draft.reasons or {})
            if new:
                reasons["new_in_redraft"] = True
            story = Story.objects.create(issue=issue, selected=selected, position=position, headline=draft.headline,
                                         summary_markdown=draft.summary_markdown, score=draft.score,
                                         reasons=reasons, terms=draft.terms_weights)
            set_articles(story, [a.id for a in draft.articles])
            return story

        def set_articles(story: Story, article_ids: list[int]) -> None:
            story.storyarticle_set.all().delete()
            StoryArticle.objects.bulk_create([StoryArticle(story=story, article_id=a, position=k)
                                              for k, a in enumerate(article_ids, start=1)])

        if not was_edited:
            issue.stories.all().delete()
            counters = {True: 0, False: 0}
            for selected_, draft in drafts:
                counters[selected_] += 1
                create(draft, selected_, counters[selected_])
            report["refreshed"] = [d.headline for _, d in drafts]
            Issue.objects.filter(pk=issue.pk).update(notice=composition.notice())
        else:
            claimed: dict[int, Story] = {}
            order = {s.pk: k for k, s in enumerate(old)}
            new_in_composition = {a.id for _, d in drafts for a in d.articles}
            fresh: list[Story] = []
            for _, draft in drafts:
                ids = [a.id for a in draft.articles]
                overlapping = [s for s in old if s.pk not in claimed and set(ids) & set(ids_of[s.pk])]
                if not overlapping:  # new coverage, or a part of a story another one already continues
                    new = not any(set(ids) & set(ids_of[s.pk]) for s in old)
                    fresh.append(create(draft, False, 0, new=new))
                    report["new" if new else "refreshed"].append(draft.headline)
                    continue
                story = max(overlapping, key=lambda s: (len(set(ids) & set(ids_of[s.pk])), s.selected, -order[s.pk]))
                claimed[story.pk] = story
                if set(ids) == set(ids_of[story.pk]):
                    report["kept"].append(story.headline)
                    if (story.reasons or {}).pop("new_in_redraft", None):  # new last time, not now
                        story.save(update_fields=["reasons"])
                    continue
                story.score, story.terms = draft.score, draft.terms_weights
                story.reasons = dict(draft.reasons or {})
                fields = ["score", "terms", "reasons"]
                if story.pk not in written:
                    story.headline, story.summary_markdown = draft.headline, draft.summary_markdown
                    fields += ["headline", "summary_markdown"]
                story.save(update_fields=fields)
                set_articles(story, ids)
                report["refreshed"].append(story.headline)
            for story in old:
                if story.pk in claimed:
                    continue
                mine = ids_of[story.pk]
                if not (set(mine) & new_in_composition) and (story.selected or story.pk in touched):
                    report["kept"].append(story.headline)
                    continue
                report["removed"].append(story.headline)
                story.delete()
            _renumber(selected(issue))
            rest = [s for s in candidates(issue) if s.pk not in {f.pk for f in fresh}]
            _renumber(sorted(fresh, key=lambda s: -s.score) + sorted(rest, key=lambda s: (-s.score, s.pk)))
        _follow_lead_image(issue)
        issue = Issue.objects.get(pk=issue.pk)
        _record(issue, user, IssueEdit.Action.REDRAFTED, None, **report)
    return report


def redraft_summary(d: dict) -> str:
    """One line on a redraft (history and command output)."""
    if not d.get("edited"):
        return f"drafted again from the window's coverage ({len(d.get('refreshed', []))} stories; no editor had changed it)"
    parts = [f"{len(d.get('kept', []))} kept as the editors left them",
             f"{len(d.get('refreshed', []))} with new coverage"]
    if d.get("new"):
        parts.append(f"{len(d['new'])} new among the candidates")
    if d.get("removed"):
        parts.append(f"{len(d['removed'])} removed")
    return "drafted again from the window's coverage: " + ", ".join(parts)
