"""Learning from editors: train the workspace's relevance model from labelled examples.

``digest learn LABELS.jsonl`` reads one JSON object a line::

    {"url": "https://...", "label": 2}
    {"url": "https://...", "label": 0, "title": "...", "summary": "..."}

``label`` is 0 (not for the digest), 1 (related) or 2 (core). Each URL is
looked up among the stored articles by its canonical form; an item the store
does not hold can bring its own ``title`` and ``text`` (or ``summary``).
A bad line is reported with its number and skipped; the rest is used.

The editors' own decisions, which the web app stores as they work
(:class:`~alliance_digest.db.models.EditorDecision`), are labels too, the
way Paperless-ngx learns from its users' corrections: the articles of a
story an editor included, or that stood in an issue when it was approved,
are for the digest (label 2); those of a story an editor dropped are not
(label 0). For one URL the latest decision counts, and a line of the labels
file overrides any decision (it is the more deliberate statement). Stories
left among the candidates teach nothing: not chosen is not irrelevant.
Training always starts again from every label there is, so the model is
the same whoever runs it, and however often.

The model (:mod:`alliance_digest.pipeline.learned`) is written atomically to
``services.model_path(profile)``; since ``services.topic_version`` hashes that
file, stored articles are re-scored the next time a window is drafted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from alliance_digest import services
from alliance_digest.db.models import Article, EditorDecision
from alliance_digest.pipeline.learned import Example, ModelUnreadable, RelevanceModel
from alliance_digest.pipeline.records import Problem
from alliance_digest.pipeline.relevance import RelevanceScorer
from alliance_digest.pipeline.text import html_to_text
from alliance_digest.pipeline.urls import BadURL, canonicalise
from alliance_digest.profile import Profile

MIN_PER_CLASS = 3  # examples needed both for the digest (label 1-2) and not (label 0)
LABELS = {0: "not for the digest", 1: "related", 2: "core"}
# what each editor decision says about its story's articles (reordering says nothing about relevance)
DECIDED = {EditorDecision.Decision.INCLUDED: 2, EditorDecision.Decision.APPROVED: 2,
           EditorDecision.Decision.DROPPED: 0}
BATCH = 500
_DECIDED = {}  # the "line" of a label that came from the editors' decisions (compared by identity)


class LearnError(Exception):
    """Nothing could be trained (no usable file, too few examples of a class)."""

    report: "LearnReport | None" = None  # what was read before giving up (bad lines included)


@dataclass
class LearnReport:
    lines: int = 0  # non-blank lines read
    used: int = 0  # examples trained on
    from_store: int = 0  # of those, found among the stored articles
    unknown: int = 0  # URLs neither stored nor given a title
    bad: int = 0  # lines that could not be read
    repeated: int = 0  # lines whose URL came again later (the later label is used)
    positives: int = 0  # label 1 or 2
    negatives: int = 0  # label 0
    core: int = 0
    related: int = 0
    decided: int = 0  # URLs labelled by the editors' decisions (before the file's lines override some)
    from_decisions: int = 0  # examples trained on that the decisions labelled
    last_decision: int = 0  # id of the latest decision read (the dashboard counts the ones after it)
    decided_issues: int = 0  # issues those decisions were made in
    overridden: int = 0  # decided URLs the labels file labels too (the file's label is used)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None
    model: RelevanceModel | None = None

    def summary(self) -> str:
        parts = [f"learned from {self.used} example(s): {self.core} core, {self.related} related, "
                 f"{self.negatives} not for the digest ({self.from_store} stored article(s))"]
        if self.decided:
            parts.append(f"{self.decided} article(s) labelled by the editors' decisions in "
                         f"{self.decided_issues} issue(s)")
        if self.overridden:
            parts.append(f"{self.overridden} of them labelled again by the file (its label used)")
        if self.unknown:
            parts.append(f"{self.unknown} unknown URL(s) skipped")
        if self.bad:
            parts.append(f"{self.bad} bad line(s) skipped")
        if self.repeated:
            parts.append(f"{self.repeated} repeated URL(s): later label used")
        return "; ".join(parts)


def _label(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in LABELS:
        return value
    if isinstance(value, str) and value.strip() in {"0", "1", "2"}:
        return int(value.strip())
    return None


def read_labels(path: Path, report: LearnReport) -> dict[str, tuple[int, dict]]:
    """Canonical URL -> (label, line object); bad lines go to ``report.problems``."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise LearnError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LearnError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    wanted: dict[str, tuple[int, dict]] = {}

    def bad(number: int, message: str) -> None:
        report.bad += 1
        report.problems.append(Problem(f"{path.name} line {number}", message + "; skipped"))

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            bad(number, "expected a JSON object with url and label")
            continue
        url = obj.get("url")
        if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
            bad(number, "missing url" if not url else f"url {str(url)[:80]!r} is not an http(s) URL")
            continue
        if "label" not in obj:
            bad(number, "missing label (0 not for the digest, 1 related, 2 core)")
            continue
        label = _label(obj["label"])
        if label is None:
            bad(number, f"label {obj['label']!r} is not 0 (not for the digest), 1 (related) or 2 (core)")
            continue
        try:
            key = canonicalise(url.strip())
        except BadURL as exc:
            bad(number, str(exc))
            continue
        if key in wanted:
            report.repeated += 1
        wanted[key] = (label, obj)
    return wanted


def decision_labels(report: LearnReport) -> dict[str, tuple[int, dict]]:
    """Canonical URL -> (label, {}) from the editors' decisions; for one URL the latest decision counts."""
    wanted: dict[str, tuple[int, dict]] = {}
    issues = set()
    rows = (EditorDecision.objects.filter(decision__in=list(DECIDED)).order_by("at", "id")
            .values_list("id", "decision", "article_urls", "issue_id"))
    for pk, decision, urls, issue_id in rows:
        report.last_decision = max(report.last_decision, pk)
        for url in urls if isinstance(urls, list) else []:
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                wanted.pop(url, None)  # order of the latest decision: training order stays deterministic
                wanted[url] = (DECIDED[decision], _DECIDED)
                issues.add(issue_id)
    report.decided, report.decided_issues = len(wanted), len(issues)
    return wanted


def examples_from(wanted: dict[str, tuple[int, dict]], report: LearnReport) -> list[Example]:
    """Labelled URLs -> examples: stored article text first, else the line's own title and text."""
    stored: dict[str, tuple[str, str]] = {}
    keys = list(wanted)
    for start in range(0, len(keys), BATCH):
        rows = Article.objects.filter(canonical_url__in=keys[start:start + BATCH]).values_list(
            "canonical_url", "title", "text", "summary")
        for url, title, text, summary in rows:
            stored[url] = (title, text or summary)
    examples = []
    for key in keys:  # file order: training is deterministic for a given file and store
        label, obj = wanted[key]
        if key in stored:
            title, body = stored[key]
            report.from_store += 1
        elif isinstance(obj.get("title"), str) and obj["title"].strip():
            title = html_to_text(obj["title"])
            body = str(obj.get("text") or "").strip() or html_to_text(str(obj.get("summary") or ""))
        else:
            report.unknown += 1
            continue
        examples.append(Example(title=title, text=body or "", label=label))
        report.from_decisions += obj is _DECIDED
    return examples


def train(profile: Profile, examples: list[Example], report: LearnReport) -> RelevanceModel:
    """Check there is enough to learn from, fit, save atomically; fills the report's counts."""
    report.used = len(examples)
    report.core = sum(1 for e in examples if e.label == 2)
    report.related = sum(1 for e in examples if e.label == 1)
    report.positives = report.core + report.related
    report.negatives = report.used - report.positives
    if report.positives < MIN_PER_CLASS or report.negatives < MIN_PER_CLASS:
        raise LearnError(
            f"too few examples to learn from: need at least {MIN_PER_CLASS} labelled 1 or 2 (for the digest) "
            f"and {MIN_PER_CLASS} labelled 0 (not for the digest); usable: {report.positives} and "
            f"{report.negatives}" + (" (the editors' decisions count a dropped story's articles as 0, an included "
                                     "or approved one's as 2)" if report.decided else ""))
    model = RelevanceModel.train(examples, RelevanceScorer(profile.topic))
    model.counts.update(from_decisions=report.from_decisions, last_decision=report.last_decision)
    path = services.model_path(profile)
    save_atomically(model, path)
    report.model, report.path = model, path
    return model


def save_atomically(model: RelevanceModel, path: Path) -> None:
    """Write a temporary file beside ``path`` and rename it over: readers never see half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as out:
            out.write(model.dumps())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def learn(profile: Profile, path: Path | None = None, decisions: bool = True) -> LearnReport:
    """Train and save the workspace's model from a labels file and/or the editors' decisions.

    Raises :class:`LearnError` when nothing could be trained; the report's
    ``problems`` then still lists the bad lines (``LearnError.report``).
    """
    report = LearnReport()
    try:
        wanted = decision_labels(report) if decisions else {}
        if path is not None:
            from_file = read_labels(path, report)
            if not from_file and not wanted:
                raise LearnError(f"{Path(path).name} holds no usable labelled lines")
            report.overridden = sum(1 for key in from_file if key in wanted)
            for key in from_file:
                wanted.pop(key, None)
            wanted.update(from_file)
        elif not wanted:
            raise LearnError("nothing to learn from: give a LABELS.jsonl file, or let the editors include and "
                             "drop stories in the web app first (no decision is stored yet)" if decisions else
                             "nothing to learn from: give a LABELS.jsonl file")
        train(profile, examples_from(wanted, report), report)
    except LearnError as exc:
        exc.report = report
        raise
    return report


def grouping_pairs() -> dict[tuple[str, str], bool]:
    """The editors' grouping corrections as article pairs: (url, url) sorted -> same story or not.

    A merge says every article of one story reports the same story as every
    article of the other; a split says the articles that left and those that
    stayed do not. For one pair the latest decision counts; one undone by
    restoring an earlier version (``withdrawn``) counts no more. Every later
    draft of a window holding both articles honours them
    (``services.grouping_corrections``); no "same story" model is trained
    from them yet (that needs them in volume, see docs/QUALITY.md).
    """
    pairs: dict[tuple[str, str], bool] = {}
    rows = (EditorDecision.objects.filter(decision__in=[EditorDecision.Decision.MERGED, EditorDecision.Decision.SPLIT],
                                          withdrawn=False)
            .order_by("at", "id").values_list("decision", "article_urls", "other_urls"))
    for decision, urls, others in rows:
        same = decision == EditorDecision.Decision.MERGED
        for a in urls or []:
            for b in others or []:
                if a != b:
                    pairs[(a, b) if a < b else (b, a)] = same
    return pairs


def status(profile: Profile) -> dict:
    """What the dashboard says about learning: the model in use, and the decisions it has not seen.

    ``model``: False (the rules alone), True, or "unreadable"; ``created``,
    ``examples``, ``from_decisions`` describe the model; ``new_decisions``
    counts include, drop and approve decisions made after it was trained
    (all of them when there is no model).
    """
    path = services.model_path(profile)
    decisions = EditorDecision.objects.filter(decision__in=list(DECIDED))
    if not path.is_file():
        return {"model": False, "new_decisions": decisions.count()}
    try:
        model = RelevanceModel.load(path)
    except ModelUnreadable as exc:
        return {"model": "unreadable", "error": exc.reason, "new_decisions": decisions.count()}
    counts = model.counts
    return {"model": True, "created": model.created, "examples": counts.get("examples", 0),
            "from_decisions": counts.get("from_decisions", 0),
            "new_decisions": decisions.filter(id__gt=int(counts.get("last_decision") or 0)).count()}


def forget(profile: Profile) -> bool:
    """Delete the learned model (back to the rules alone); False when there was none."""
    path = services.model_path(profile)
    if not path.is_file():
        return False
    path.unlink()
    return True
