"""Selection quality: are the drafted stories the ones an editor would pick?

For each labelled two-week window of ``news-windows``, a temporary workspace
with the default profile ingests the window's items (title + description, as
the feeds give them), drafts an issue for the window's dates, and the draft
is compared with the labels:

- a drafted story *counts* when most of its items carry one event id whose
  label is 1 or 2; that event is the story's event;
- the lead is a core story when its event is labelled 2;
- precision@k over the first k = min(5, number of labelled events) drafted
  stories (divided by the number drafted when fewer: a thin draft is not
  punished for what it rightly left out);
- core-event recall: the share of core events that are some drafted story's event;
- duplicates: drafted stories beyond the first with the same event;
- thin: fewer stories drafted than the profile asks for.

With ``train_windows``, a relevance model is trained (``digest learn``'s
model) on those windows' labels and the other windows are evaluated with
and without it; ``leave_one_out`` does that for every held-out window.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from alliance_digest.evaluation import Report
from alliance_digest.evaluation._data import Window, news_items, record, windows
from alliance_digest.pipeline.urls import canonicalise


def _fresh_workspace(root: Path, name: str):
    from alliance_digest import workspace
    from alliance_digest.profile import load_profile

    home = workspace.init(root / name)
    return home, load_profile(home / "digest.toml")


def examples_for(window: Window, items: dict) -> list:
    from alliance_digest.pipeline.learned import Example

    out = []
    for row in window.items:
        rec = record(items[row["guid"]])
        out.append(Example(rec.title, rec.summary, int(row["label"])))
    return out


def train_model(train: list[Window], items: dict, path: Path) -> None:
    import tomllib

    from alliance_digest.pipeline.learned import RelevanceModel
    from alliance_digest.pipeline.relevance import RelevanceScorer
    from alliance_digest.profile import default_profile_text, parse_profile

    rules = RelevanceScorer(parse_profile(tomllib.loads(default_profile_text())).topic)
    examples = [e for w in train for e in examples_for(w, items)]
    RelevanceModel.train(examples, rules).save(path)


def evaluate_window(window: Window, items: dict, root: Path, model_from: list[Window] | None = None) -> dict:
    home, profile = _fresh_workspace(root, window.name + ("-learned" if model_from else ""))
    from alliance_digest import services  # Django is set up by now
    from alliance_digest.pipeline.compose import Window as DraftWindow

    if model_from:
        train_model(model_from, items, services.model_path(profile))
    report = services.IngestReport()
    services.store_articles([record(items[row["guid"]]) for row in window.items], profile, report)
    issue, comp = services.draft_issue(profile, DraftWindow(window.start, window.end))
    data = services.issue_data(issue, profile)

    event_of = {canonicalise(row["url"]): row["event"] for row in window.items}
    label_of = {e["event"]: int(e["label"]) for e in window.events}
    drafted = []
    for story in data["stories"]:
        events = Counter(event_of.get(canonicalise(a["url"])) for a in story["articles"])
        event, count = max(((e, c) for e, c in events.items() if e), key=lambda ec: ec[1], default=(None, 0))
        counts = bool(event) and count * 2 > len(story["articles"]) and label_of.get(event, 0) >= 1
        drafted.append((story["headline"], event if counts else None, len(story["articles"])))
    k = min(5, len(window.events))
    top = drafted[:k]
    precision = sum(1 for _, e, _ in top if e) / len(top) if top else 0.0
    core = {e for e, label in label_of.items() if label == 2}
    found = {e for _, e, _ in drafted if e}
    events_drafted = [e for _, e, _ in drafted if e]
    return {
        "window": window.name, "character": window.character, "drafted": len(drafted), "k": k,
        "lead_core": bool(drafted) and drafted[0][1] in core, "has_core": bool(core),
        "precision_at_k": precision,
        "core_recall": len(core & found) / len(core) if core else 1.0,
        "duplicates": len(events_drafted) - len(set(events_drafted)),
        "thin": comp.thin, "stories": drafted,
    }


def run(data_dir, train_windows: list[str] | None = None, leave_one_out: bool = False) -> Report:
    items = news_items(data_dir)
    all_windows = windows(data_dir)
    by_name = {w.name: w for w in all_windows}
    unknown = [n for n in (train_windows or []) if n not in by_name]
    if unknown:
        raise ValueError(f"unknown window(s) {', '.join(unknown)} (known: {', '.join(by_name)})")
    report = Report("selection", ["window", "model", "drafted", "k", "lead core", "precision@k",
                                  "core recall", "duplicates", "thin"])
    plans: list[tuple[Window, list[Window] | None]] = []
    if leave_one_out:
        for w in all_windows:
            plans += [(w, None), (w, [o for o in all_windows if o is not w])]
    elif train_windows:
        train = [by_name[n] for n in train_windows]
        for w in all_windows:
            if w.name not in train_windows:
                plans += [(w, None), (w, train)]
    else:
        plans = [(w, None) for w in all_windows]
    results = []
    with tempfile.TemporaryDirectory(prefix="digest-eval-") as tmp:
        for window, train in plans:
            result = evaluate_window(window, items, Path(tmp), train)
            result["model"] = "learned" if train else "rules"
            results.append(result)
            report.rows.append([window.name + (f" ({window.character})" if window.character else ""),
                                result["model"], result["drafted"], result["k"],
                                ("yes" if result["lead_core"] else "NO") if result["has_core"] else "-",
                                result["precision_at_k"], result["core_recall"], result["duplicates"],
                                "yes" if result["thin"] else "no"])
    for model in ("rules", "learned"):
        rows = [r for r in results if r["model"] == model]
        if not rows:
            continue
        prefix = "selection" if model == "rules" else "selection_learned"
        report.metrics[f"{prefix}_precision_at_k_mean"] = sum(r["precision_at_k"] for r in rows) / len(rows)
        report.metrics[f"{prefix}_core_recall_mean"] = sum(r["core_recall"] for r in rows) / len(rows)
        report.metrics[f"{prefix}_lead_core_share"] = (
            sum(1 for r in rows if r["lead_core"]) / max(1, sum(1 for r in rows if r["has_core"])))
        report.metrics[f"{prefix}_windows_with_duplicates"] = float(sum(1 for r in rows if r["duplicates"]))
        quiet = [r for r in rows if r["character"] == "quiet"]
        if quiet:
            report.metrics[f"{prefix}_quiet_windows_thin_share"] = sum(1 for r in quiet if r["thin"]) / len(quiet)
    if any(r["model"] == "learned" for r in results):
        worst = min(l["precision_at_k"] - b["precision_at_k"]
                    for b in results if b["model"] == "rules"
                    for l in results if l["model"] == "learned" and l["window"] == b["window"])
        report.metrics["learned_minus_rules_precision_at_k_worst"] = worst
    for r in results:
        for n, (headline, event, size) in enumerate(r["stories"], start=1):
            report.notes.append(f"{r['window']} [{r['model']}] {n}. {headline} ({size} items) -> {event or 'not an event'}")
    return report
