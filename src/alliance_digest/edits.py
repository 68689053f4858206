"""How much the editors changed the machine's drafts: the product's quality as its users see it.

The evaluations (``digest eval``) measure the pipeline on third-party gold;
this measures it on the customer's own issues, from what the web app keeps
of every change (``IssueEdit``, ``EditorDecision``): of the stories an issue
ran with, how many were the machine's own picks, and how many came from the
candidates, were added by hand, were rewritten; how many of the machine's
picks were dropped; how often the grouping was corrected (merges, splits).
A drafting change that makes editors work harder shows here first.

A story is the machine's pick when it ran and no editor included or added
it; a story dropped and later included again counts as the machine's (its
first selection decision was a drop). Only approved and published issues
count: a draft is still being edited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from alliance_digest.db.models import EditorDecision, Issue, IssueEdit

CHOICES = (EditorDecision.Decision.INCLUDED, EditorDecision.Decision.DROPPED)


@dataclass
class IssueEdits:
    issue: str  # V.N, or "total"
    status: str
    stories: int = 0  # in the issue as it ran
    machine: int = 0  # of them, the machine's own picks
    included: int = 0  # candidates an editor included
    added: int = 0  # added by hand (from URLs or written)
    dropped: int = 0  # the machine's picks an editor dropped for good
    merged: int = 0  # merges of two stories (undone ones not counted)
    split: int = 0  # splits of a story
    rewritten: int = 0  # stories that ran with an edited headline or summary

    @property
    def machine_share(self) -> float | None:
        return self.machine / self.stories if self.stories else None

    def as_dict(self) -> dict:
        return {**asdict(self), "machine_share": self.machine_share}


def issue_edits(issue: Issue) -> IssueEdits:
    """The editors' changes to one issue's draft, counted."""
    ran = set(issue.stories.filter(selected=True).values_list("pk", flat=True))
    added = set(issue.edits.filter(action=IssueEdit.Action.ADD, story__isnull=False).values_list("story_id", flat=True))
    first: dict[int, str] = {}
    for story_id, decision in (issue.decisions.filter(decision__in=CHOICES, story__isnull=False)
                               .order_by("at", "id").values_list("story_id", "decision")):
        first.setdefault(story_id, decision)
    included = {pk for pk in ran - added if first.get(pk) == EditorDecision.Decision.INCLUDED}
    dropped = {pk for pk, decision in first.items() if decision == EditorDecision.Decision.DROPPED and pk not in ran}
    grouping = issue.decisions.filter(withdrawn=False)
    rewritten = set(issue.edits.filter(action=IssueEdit.Action.EDIT, story_id__in=ran).values_list("story_id", flat=True))
    return IssueEdits(
        issue=issue.key, status=issue.status, stories=len(ran), machine=len(ran - added - included),
        included=len(included), added=len(ran & added), dropped=len(dropped),
        merged=grouping.filter(decision=EditorDecision.Decision.MERGED).count(),
        split=grouping.filter(decision=EditorDecision.Decision.SPLIT).count(), rewritten=len(rewritten))


def recent(limit: int | None = None) -> list[IssueEdits]:
    """Approved and published issues, newest first (``limit`` of them)."""
    issues = Issue.objects.exclude(status=Issue.Status.DRAFT).order_by("-volume", "-number")
    return [issue_edits(issue) for issue in (issues[:limit] if limit else issues)]


def total(rows: list[IssueEdits]) -> IssueEdits:
    out = IssueEdits(issue="total", status=f"{len(rows)} issue(s)")
    for row in rows:
        for name in ("stories", "machine", "included", "added", "dropped", "merged", "split", "rewritten"):
            setattr(out, name, getattr(out, name) + getattr(row, name))
    return out
