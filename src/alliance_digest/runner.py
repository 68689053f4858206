"""`digest run`: read sources on their schedule, draft when a window ends, tell the editors.

One cycle: seed the registry from the profile, check the sources that are
due (adaptive schedule, see :mod:`alliance_digest.source_check`), email the
editors about sources this check paused, then draft the next issue when its
window has ended and no issue covers it yet, and email the editors that a
draft is ready. Between cycles it sleeps on an event, so SIGTERM/SIGINT
wake it at once; a signal during a cycle lets the current step finish
(every database write is its own transaction) and skips the rest.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from alliance_digest.profile import Profile


def log(message: str) -> None:
    """One time-stamped line on stderr (journald and cron mail keep it)."""
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")  # the offset: no guessing the zone
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


@dataclass
class CycleReport:
    checked: int = 0
    new: int = 0
    failed: int = 0
    drafted: str = ""  # issue key
    emailed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------ cadence ---

def window_due(profile: Profile, today: date):
    """The window to draft today, or None.

    Windows end every ``cadence_days``: counted from the latest issue's
    window end, else from ``[run] first_window_end``, else yesterday. The
    due window is the latest one that has *ended*, its last day over (a
    window ending today would miss today's later news, which the next
    window no longer covers); it is drafted unless an issue already ends on
    or after that day.
    """
    from alliance_digest.db.models import Issue
    from alliance_digest.pipeline.compose import Window

    cadence = profile.cadence_days
    ended = today - timedelta(days=1)  # the last whole day
    last = Issue.objects.order_by("-window_end").first()
    anchor = last.window_end if last else (profile.run.first_window_end or ended)
    if anchor > ended:
        return None
    end = anchor + timedelta(days=((ended - anchor).days // cadence) * cadence)
    if last is not None and last.window_end >= end:
        return None
    return Window.ending(end, cadence, profile.zone)


def draft_if_due(profile: Profile, today: date, report: CycleReport) -> None:
    from alliance_digest import services

    window = window_due(profile, today)
    if window is None:
        return
    try:
        issue, comp = services.draft_issue(profile, window)
    except services.ServiceError as exc:
        report.errors.append(str(exc))
        log(f"draft: {exc}")
        return
    report.drafted = issue.key
    log(f"drafted issue {issue.key} for {window.start}..{window.end}: {len(comp.selected)} stories, "
        f"{len(comp.candidates)} candidates")


def notify_drafts(profile: Profile, report: CycleReport) -> None:
    """Tell the editors about each draft they have not been told about yet.

    Kept apart from drafting so that a mail failure (SMTP down at the
    moment) is retried on the next cycle instead of being lost.
    """
    from django.utils import timezone

    from alliance_digest import services
    from alliance_digest.db.models import Issue

    if not profile.run.editors:
        return
    for issue in Issue.objects.filter(status=Issue.Status.DRAFT, editors_notified_at__isnull=True):
        # claimed before the mail goes out, so two `digest run`s never both announce it; given back on failure
        claimed_at = timezone.now()
        if not Issue.objects.filter(pk=issue.pk, editors_notified_at__isnull=True).update(
                editors_notified_at=claimed_at):
            continue
        stories = issue.stories.filter(selected=True).order_by("position")
        window = services.issue_window(issue)
        subject = f"Draft ready: {profile.title} {profile.numbering.label(issue.volume, issue.number)}"
        if not _tell_editors(profile, report, subject=subject,
                             body=_draft_body(profile, issue, window, [s.headline for s in stories], issue.notice)):
            Issue.objects.filter(pk=issue.pk, editors_notified_at=claimed_at).update(editors_notified_at=None)


def editor_link(profile: Profile, issue) -> str:
    base = (profile.run.editor_url or profile.site_url or "").rstrip("/")
    return f"{base}/editor/issues/{issue.volume}-{issue.number}/"


def _draft_body(profile: Profile, issue, window, headlines: list[str], notice: str) -> str:
    lines = [f"The draft of {profile.title} {profile.numbering.label(issue.volume, issue.number)} "
             f"({window.start} to {window.end}) is ready for review:", "", editor_link(profile, issue), ""]
    if headlines:
        lines.append("Stories:")
        lines += [f"  {k}. {h}" for k, h in enumerate(headlines, start=1)]
    else:
        lines.append("It holds no stories yet.")
    if notice:
        lines += ["", notice]
    lines += ["", "-- digest run"]
    return "\n".join(lines) + "\n"


def _tell_editors(profile: Profile, report: CycleReport, subject: str, body: str) -> bool:
    """Email ``[run] editors``; a mail failure is logged, never fatal (the draft stays). True when sent."""
    editors = profile.run.editors
    if not editors:
        return False
    from django.core.mail import EmailMessage

    from alliance_digest.mailer import email_connection

    try:
        connection = email_connection(profile)
        EmailMessage(subject=subject, body=body, from_email=profile.email.from_address, to=list(editors),
                     connection=connection).send()
    except Exception as exc:  # SMTP, provider or backend errors: say so and go on
        message = f"could not email the editors ({subject}): {exc.__class__.__name__}: {exc}"
        report.errors.append(message)
        log(message)
        return False
    report.emailed.append(subject)
    log(f"emailed {', '.join(editors)}: {subject}")
    return True


# --------------------------------------------------------------- cycle ---

def cycle(profile: Profile, today: date | None = None, stop: threading.Event | None = None) -> CycleReport:
    """One pass: seed, check due sources, report pauses, draft when due."""
    from alliance_digest import services

    report = CycleReport()
    with services.rules_if_model_unreadable():
        _cycle(profile, report, today, stop)
    return report


def _cycle(profile: Profile, report: CycleReport, today: date | None, stop: threading.Event | None) -> None:
    from alliance_digest import source_check, sources

    _check_model(profile, report)
    added = sources.seed_from_profile(profile)
    if added:
        log(f"added {len(added)} source(s) from digest.toml")
    check = source_check.check_sources(profile, due_only=True, stop=stop)
    report.checked, report.new, report.failed = len(check.outcomes), check.new, len(check.failed)
    for outcome in check.failed:
        log(f"source {outcome.line()}")
    if check.outcomes:
        log(check.summary())
    notify_pauses(profile, report)
    if stop is not None and stop.is_set():
        return
    draft_if_due(profile, today or profile.today(), report)
    notify_drafts(profile, report)


def notify_pauses(profile: Profile, report: CycleReport) -> None:
    """Tell the editors about every paused source they have not been told about.

    Whoever paused it (this cycle, `digest sources check`, `digest ingest`),
    and retried on the next cycle when the mail could not go out.
    """
    from django.utils import timezone

    from alliance_digest.db.models import Source

    if not profile.run.editors:
        return
    claimed_at = timezone.now()  # claimed first, as for drafts: one process tells of each pause
    Source.objects.filter(paused_at__isnull=False, editors_told_at__isnull=True).update(editors_told_at=claimed_at)
    untold = list(Source.objects.filter(editors_told_at=claimed_at).order_by("name"))
    if not untold:
        return
    body = "These sources were paused and are no longer read:\n\n" + "\n".join(
        f"  - {s.name} <{s.url}>: {s.paused_reason}" for s in untold) + (
        "\n\nResume one with `digest sources resume URL` once it works again.\n")
    if not _tell_editors(profile, report, subject=f"{profile.title}: {len(untold)} source(s) paused", body=body):
        Source.objects.filter(pk__in=[s.pk for s in untold], editors_told_at=claimed_at).update(editors_told_at=None)


_MODEL_REPORTED: set[str] = set()  # damaged model files the editors were told about (once per process)


def _check_model(profile: Profile, report: CycleReport) -> None:
    """A damaged learned model: say so (log, and the editors once); the cycle goes on with the rules."""
    from alliance_digest import services
    from alliance_digest.pipeline.learned import ModelUnreadable, RelevanceModel

    path = services.model_path(profile)
    if not path.is_file():
        return
    try:
        RelevanceModel.load(path)
    except ModelUnreadable as exc:
        message = f"{exc}; until then sources are read and drafts made with the rules alone"
        log(message)
        report.errors.append(message)
        key = services.topic_version(profile)
        if key not in _MODEL_REPORTED and _tell_editors(
                profile, report, subject=f"{profile.title}: the learned relevance model cannot be read",
                body=message + "\n\n-- digest run\n"):
            _MODEL_REPORTED.add(key)


def run(profile: Profile, interval: float = 60.0, once: bool = False, today: date | None = None,
        stop: threading.Event | None = None, reload: Callable[[], Profile] | None = None) -> int:
    """Loop until SIGTERM/SIGINT (or one cycle with ``once``); return the exit status.

    ``reload`` re-reads the profile before each cycle, so edits to
    digest.toml apply without a restart (a broken edit keeps the last good one).
    """
    stop = stop or threading.Event()
    previous = {}

    def on_signal(signum, frame):
        log(f"received {signal.Signals(signum).name}; stopping after the current step")
        stop.set()
        # a second signal ends the process the default way
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    log(f"running (pid {__import__('os').getpid()}, every {interval:g} s)" if not once else "running one cycle")
    try:
        while not stop.is_set():
            if reload is not None:
                try:
                    profile = reload()
                except Exception as exc:  # keep the last good profile
                    log(f"profile not reloaded: {exc}")
            begin = time.monotonic()
            try:
                cycle(profile, today=today, stop=stop)
            except Exception as exc:  # one bad cycle (a database hiccup) must not end the service
                log(f"cycle failed: {exc.__class__.__name__}: {exc}")
                if once:
                    return 1
            if once:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - begin)))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log("stopped")
    return 0
