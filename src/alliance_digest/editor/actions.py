"""What editors do to a draft: each change saved at once, recorded with its author and time.

Every function takes the issue's story and the acting user, changes the
stored order or text in one transaction, writes an :class:`IssueEdit` (the
history) and, for choices about which stories run and where, an
:class:`EditorDecision` (with the story's article URLs, so ranking can
learn from editors later). Only drafts can change: an approved issue's
content is frozen (:class:`Frozen`).

Positions: selected stories are numbered 1..n in reading order;
candidates 1..m in rank order.
"""

from __future__ import annotations

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


def _locked_issue(issue: Issue) -> Issue:
    """The issue re-read inside the transaction (row-locked where the database can), still a draft."""
    fresh = Issue.objects.select_for_update().get(pk=issue.pk)
    check_draft(fresh)
    return fresh


def _story(issue: Issue, story_id) -> Story:
    try:
        return Story.objects.select_for_update().get(pk=int(story_id), issue=issue)
    except (Story.DoesNotExist, TypeError, ValueError):
        raise EditError("That story is not part of this issue (the page may be out of date; reload it).") from None


def _article_urls(story: Story) -> list[str]:
    return [link.article.canonical_url for link in story.storyarticle_set.select_related("article").order_by("position")]


def _record(issue: Issue, user, action: str, story: Story | None = None, **detail) -> IssueEdit:
    now = timezone.now()
    Issue.objects.filter(pk=issue.pk).update(updated_at=now)
    return IssueEdit.objects.create(issue=issue, story=story, user=user if user and user.pk else None,
                                    username=getattr(user, "username", "") or "", at=now, action=action,
                                    detail=detail)


def _decide(issue: Issue, user, story: Story, decision: str, before: int | None, after: int | None) -> None:
    EditorDecision.objects.create(
        issue=issue, story=story, user=user if user and user.pk else None,
        username=getattr(user, "username", "") or "", at=timezone.now(), decision=decision,
        position_before=before, position_after=after, headline=story.headline, score=story.score,
        reasons=story.reasons or {}, article_urls=_article_urls(story))


def _renumber(stories: list[Story]) -> None:
    for position, story in enumerate(stories, start=1):
        if story.position != position:
            story.position = position
            story.save(update_fields=["position"])


def _follow_lead_image(issue: Issue) -> None:
    """The lead image is the top story's (its best source first), as when drafting."""
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


def edit(issue: Issue, story_id, headline: str, summary_markdown: str, user) -> bool:
    """New headline and summary (Markdown); False when nothing changed."""
    with transaction.atomic():
        issue = _locked_issue(issue)
        story = _story(issue, story_id)
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
        issue = _locked_issue(issue)
        try:
            delivery.approve(profile, issue, by=user.username)
        except delivery.DeliveryError as exc:
            raise EditError(_sentence(str(exc))) from None
        _record(issue, user, IssueEdit.Action.APPROVE, None, stories=[s.headline for s in selected(issue)])
        for story in selected(issue):
            _decide(issue, user, story, EditorDecision.Decision.APPROVED, story.position, story.position)
    return issue


def publish(profile, issue: Issue, user) -> Issue:
    """Put an approved issue on the public archive (:func:`publishing.publish`) and record it."""
    from alliance_digest import publishing

    with transaction.atomic():
        fresh = Issue.objects.select_for_update().get(pk=issue.pk)
        try:
            fresh = publishing.publish(profile, fresh)
        except publishing.PublishError as exc:
            raise EditError(_sentence(str(exc))) from None
        _record(fresh, user, PUBLISH, None, permalink=publishing.permalink(profile, fresh))
    return fresh


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
        moves = "; ".join(f"“{m['headline']}” #{m['from']} → #{m['to']}" for m in d.get("moved", []))
        verb = f"moved {d['direction']}" if edit.action == IssueEdit.Action.MOVE else "reordered"
        return f"{verb}: {moves}"
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
    if edit.action == IssueEdit.Action.TEST_SEND:
        to = ", ".join(d.get("to", []))
        return f"test send to {to} failed: {d['error']}" if d.get("error") else f"test email sent to {to}"
    return edit.action


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "."
