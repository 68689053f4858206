"""Stored state: articles, issues and their stories.

Articles are stored once per canonical URL (GUID and content hash also
catch duplicates). An issue owns its stories; a story's articles are kept in
order through :class:`StoryArticle`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Article(models.Model):
    canonical_url = models.CharField(max_length=2000, unique=True)
    url = models.CharField(max_length=2000)
    guid = models.CharField(max_length=2000, null=True, blank=True, db_index=True)
    content_hash = models.CharField(max_length=64, db_index=True)
    title = models.TextField()
    summary = models.TextField(blank=True, default="")
    text = models.TextField(blank=True, default="")
    author = models.CharField(max_length=500, null=True, blank=True)
    source = models.CharField(max_length=300, blank=True, default="", help_text="Outlet name")
    published = models.DateTimeField(null=True, blank=True, db_index=True)
    ingested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    image_url = models.CharField(max_length=2000, null=True, blank=True)
    image_alt = models.TextField(null=True, blank=True)
    origin = models.CharField(max_length=2000, blank=True, default="", help_text="Where it was read from")
    relevance = models.FloatField(default=0.0, db_index=True)
    relevance_explanation = models.JSONField(default=dict, blank=True)
    relevance_version = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-published", "id"]

    def __str__(self) -> str:
        return f"{self.source}: {self.title}"


class Issue(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        APPROVED = "approved"
        PUBLISHED = "published"

    volume = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    date = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField()
    window_zone = models.CharField(max_length=64, default="UTC",
                                   help_text="The time zone whose days the window covers ([digest] time_zone when "
                                   "first drafted; issues from before the setting: UTC)")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    intro = models.TextField(blank=True, default="")
    notice = models.TextField(blank=True, default="", help_text="Plain-words note to editors, e.g. a thin window")
    image_url = models.CharField(max_length=2000, blank=True, default="")
    image_alt = models.TextField(blank=True, default="")
    image_credit = models.CharField(max_length=300, blank=True, default="")
    image_credit_url = models.CharField(max_length=2000, blank=True, default="")
    image_chosen = models.BooleanField(default=False, help_text="An editor chose the lead image or its credit: "
                                       "it no longer follows the top story")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=150, blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    frozen = models.JSONField(null=True, blank=True, help_text="The issue's content as approved; what is sent")
    send_state = models.CharField(max_length=20, blank=True, default="", help_text="'', sending, paused, finished")
    send_note = models.TextField(blank=True, default="")
    editors_notified_at = models.DateTimeField(null=True, blank=True,
                                               help_text="When `digest run` told the editors this draft is ready")

    class Meta:
        ordering = ["-volume", "-number"]
        constraints = [models.UniqueConstraint(fields=["volume", "number"], name="unique_issue_number"),
                       # one issue per window: two drafters at once (the runner and a hand-run `digest
                       # draft`) cannot make two issues of the same fortnight
                       models.UniqueConstraint(fields=["window_start", "window_end"], name="unique_issue_window")]

    @property
    def key(self) -> str:
        return f"{self.volume}.{self.number}"

    def __str__(self) -> str:
        return f"{self.title} {self.key}"


class Story(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="stories")
    selected = models.BooleanField(default=False)
    position = models.PositiveIntegerField(help_text="Order among selected stories, or candidate rank")
    headline = models.TextField()
    summary_markdown = models.TextField()
    score = models.FloatField(default=0.0)
    reasons = models.JSONField(default=dict, blank=True)
    terms = models.JSONField(default=dict, blank=True, help_text="Centroid terms, for novelty checks")
    articles = models.ManyToManyField(Article, through="StoryArticle", related_name="stories")

    class Meta:
        ordering = ["issue", "-selected", "position"]
        verbose_name_plural = "stories"

    def __str__(self) -> str:
        return self.headline


class StoryArticle(models.Model):
    story = models.ForeignKey(Story, on_delete=models.CASCADE)
    article = models.ForeignKey(Article, on_delete=models.PROTECT)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["story", "position"]
        constraints = [models.UniqueConstraint(fields=["story", "article"], name="unique_story_article")]


class Subscriber(models.Model):
    """A reader on the mailing list. Only ``active`` subscribers receive issues."""

    class Status(models.TextChoices):
        PENDING = "pending"  # signed up, not yet confirmed (double opt-in)
        ACTIVE = "active"
        UNSUBSCRIBED = "unsubscribed"
        BOUNCED = "bounced"
        COMPLAINED = "complained"

    email = models.EmailField(max_length=320, help_text="As given")
    email_normalized = models.CharField(max_length=320, unique=True, help_text="Lower-cased, for uniqueness")
    name = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    source = models.CharField(max_length=50, blank=True, default="", help_text="web, import, cli...")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_method = models.CharField(max_length=100, blank=True, default="", help_text="e.g. web form, CSV import --confirmed")
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    soft_bounces = models.PositiveIntegerField(default=0)
    last_bounce_at = models.DateTimeField(null=True, blank=True)
    last_bounce = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["email_normalized"]

    def __str__(self) -> str:
        return self.email


class Delivery(models.Model):
    """The ledger: one row per (issue, subscriber), so a resumed send skips who already got it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"  # handed to SMTP; a crash here may repeat it (at most the concurrency)
        SENT = "sent"
        FAILED = "failed"  # permanently

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    message_id = models.CharField(max_length=300, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "subscriber"], name="unique_delivery")]
        verbose_name_plural = "deliveries"


class ProcessedBounce(models.Model):
    """A bounce message already counted by ``digest bounces process``, so a mailbox read twice counts once.

    ``mark``: a hash of the message's Message-ID, or of its bytes and which copy it is when it has none.
    """

    mark = models.CharField(max_length=64, unique=True)
    processed_at = models.DateTimeField(auto_now_add=True)


# ---- the editors' web app (issue 5) -----------------------------------------------------------------

class IssueEdit(models.Model):
    """One change an editor made to an issue, with who made it and when (the issue's history)."""

    class Action(models.TextChoices):
        INCLUDE = "include"  # a candidate appended to the selected stories
        DROP = "drop"  # a selected story sent back to the candidates
        MOVE = "move"  # a selected story moved up or down
        REORDER = "reorder"  # the selected stories put in a new order (drag and drop)
        EDIT = "edit"  # headline and/or summary changed
        APPROVE = "approve"
        TEST_SEND = "test_send"
        PUBLISH = "publish"
        MERGE = "merge"  # two stories became one
        SPLIT = "split"  # articles moved out of a story into a new one
        ADD = "add"  # a story added by pasting URLs or writing it
        IMAGE = "image"  # lead image or its credit chosen
        FIELDS = "fields"  # issue date, number or intro edited
        RESTORE = "restore"  # an earlier version restored from the history
        SEND = "send"  # the email delivery started from the web
        DRAFTED = "drafted"  # the machine's draft as it was before the first edit (a version to restore)
        REDRAFTED = "redrafted"  # drafted again from the window's coverage, the editors' work kept

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="edits")
    story = models.ForeignKey(Story, on_delete=models.SET_NULL, null=True, blank=True, related_name="edits")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    username = models.CharField(max_length=150, blank=True, default="", help_text="Kept if the account goes")
    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    detail = models.JSONField(default=dict, blank=True)
    snapshot = models.JSONField(null=True, blank=True,
                                help_text="The issue's editable state after this change (restorable)")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.issue.key} {self.action} by {self.username} at {self.at:%Y-%m-%d %H:%M}"


class EditorDecision(models.Model):
    """An editor's judgement on a story, kept (with its articles' URLs) so that ranking can learn from it.

    ``included``: a candidate an editor chose; ``dropped``: a selected story an editor removed;
    ``reordered``: a selected story moved from ``position_before`` to ``position_after``;
    ``approved``: a story in the issue as approved, at its final position;
    ``merged``: the editor joined two stories: ``article_urls`` (the target's articles) and
    ``other_urls`` (the absorbed story's) report one story;
    ``split``: the editor parted a story: ``article_urls`` (what stayed) and ``other_urls``
    (what left) are different stories. Merges and splits are the pair examples a learned
    grouping would need (``learning.grouping_pairs``).
    """

    class Decision(models.TextChoices):
        INCLUDED = "included"
        DROPPED = "dropped"
        REORDERED = "reordered"
        APPROVED = "approved"
        MERGED = "merged"
        SPLIT = "split"

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="decisions")
    story = models.ForeignKey(Story, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(db_index=True)
    decision = models.CharField(max_length=20, choices=Decision.choices, db_index=True)
    position_before = models.PositiveIntegerField(null=True, blank=True, help_text="Among selected; null: a candidate")
    position_after = models.PositiveIntegerField(null=True, blank=True, help_text="Among selected; null: a candidate")
    headline = models.TextField(blank=True, default="")
    score = models.FloatField(default=0.0)
    reasons = models.JSONField(default=dict, blank=True, help_text="The ranking's reasons at the time")
    article_urls = models.JSONField(default=list, blank=True, help_text="Canonical URLs of the story's articles")
    other_urls = models.JSONField(default=list, blank=True,
                                  help_text="Merged: the absorbed story's articles; split: the articles split out")
    withdrawn = models.BooleanField(default=False, help_text="A merge or split undone by restoring a version "
                                    "from before it: no longer the editors' judgement")

    class Meta:
        ordering = ["-at", "-id"]


# ---- sources and their health (issue 6) ------------------------------------------------------------

class Source(models.Model):
    """A feed or page the digest reads, with its fetch validators and health.

    Seeded from the profile's ``[[sources]]`` (matched by URL; never deleted by
    seeding) and edited with ``digest sources``. ``paused_at`` is set after too
    many consecutive failures or at once on ``410 Gone``; editors see why in
    ``last_error`` (plain words).
    """

    class Kind(models.TextChoices):
        FEED = "feed"
        PAGE = "page"
        JSONL = "jsonl"

    name = models.CharField(max_length=300)
    url = models.CharField(max_length=2000, unique=True, help_text="Current URL (permanent redirects update it)")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FEED)
    site = models.CharField(max_length=2000, blank=True, default="", help_text="Homepage, to credit articles by host")
    authority = models.FloatField(default=0.5)
    category = models.CharField(max_length=100, blank=True, default="")
    enabled = models.BooleanField(default=True, help_text="Editors' switch; paused sources are also skipped")
    full_text = models.BooleanField(default=False, help_text="Fetch each feed item's page for its full text")
    origin = models.CharField(max_length=20, blank=True, default="", help_text="profile, cli, opml, web")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # conditional requests
    etag = models.CharField(max_length=500, blank=True, default="")
    last_modified = models.CharField(max_length=100, blank=True, default="")
    # health
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True, help_text="Last HTTP status")
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="", help_text="Plain words; empty after a success")
    last_error_code = models.CharField(max_length=40, blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    editors_told_at = models.DateTimeField(null=True, blank=True, help_text="when `digest run` emailed the pause")
    paused_reason = models.TextField(blank=True, default="")
    # schedule (adaptive: busy feeds more often, quiet ones less, within bounds)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    interval_minutes = models.PositiveIntegerField(default=60)
    last_new_items = models.PositiveIntegerField(default=0)
    total_items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name", "id"]

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def __str__(self) -> str:
        return self.name
