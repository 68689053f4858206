"""Story grouping quality: B-cubed on ECB+, pairwise F1 on the news windows' event ids.

Grouping has two levels (``pipeline/grouping.py``): *events* (one happening,
what ECB+ labels), which is how the digest groups a window, and
*storylines* (events joined into a fortnight's development), which the
digest no longer uses since session 7 (on full-text news they chained
different events into one story) and which are reported for information.

ECB+ (982 documents, 86 events, each topic pairing two look-alike events)
is grouped as one window with relevance ignored; a document's first line
stands in for its headline. Its gated figure is the event level: its
documents are undated, and look-alike events (two earthquakes, years apart)
are kept apart in real news by the storyline's date limit, which ECB+
cannot exercise; the storyline level is shown for information.

The news windows are grouped as the product groups them (title + feed
description, publication times), after the same canonical-URL
de-duplication the ingest does; pairs are scored over the distinct articles
that carry an event id (a row repeated in two feeds with the same URL
counts once), within each window, pooled over the windows. Their gold events
are developments (one holds 14 items over 12 days); the gated figure is the
event level, the grouping the digest applies to the whole window (its
same-development fold, ``compose._merge_same_events``, only joins relevant
stories). The over-merge check scores the same way the items of the 46
``summary_pairs.jsonl`` events (single happenings, mostly not about Japan):
clusters that became blobs of the window would show there as lost precision.
"""

from __future__ import annotations

import json

from alliance_digest.evaluation import Report
from alliance_digest.evaluation._data import ecb_documents, news_items, record, windows
from alliance_digest.evaluation.metrics import bcubed, pairwise
from alliance_digest.evaluation import require
from alliance_digest.evaluation.storylines import STORYLINE_THRESHOLD, storylines
from alliance_digest.pipeline.grouping import GroupInput, group
from alliance_digest.profile import parse_profile


def _threshold() -> float:
    import tomllib

    from alliance_digest.profile import default_profile_text

    return parse_profile(tomllib.loads(default_profile_text())).grouping_threshold


def _levels(items: list[GroupInput], threshold: float) -> tuple[list[list[int]], list[list[int]]]:
    """Event clusters and storylines (both as lists of item indices)."""
    events = group(items, threshold).clusters
    lines = [sorted(i for k in line for i in events[k]) for line in storylines(items, events)]
    return events, lines


def _labels(clusters: list[list[int]], n: int) -> list[int]:
    labels = [0] * n
    for k, members in enumerate(clusters):
        for i in members:
            labels[i] = k
    return labels


def ecb(data_dir, threshold: float) -> dict[str, tuple[float, float, float, int]]:
    """B-cubed P, R, F1 and cluster count at each level: {"events": ..., "storylines": ...}."""
    docs = ecb_documents(data_dir)
    items = []
    for doc in docs:
        first, _, _ = doc["text"].strip().partition("\n")
        items.append(GroupInput(first[:300], doc["text"]))
    gold = [d["event_cluster"] for d in docs]
    return {level: (*bcubed(_labels(clusters, len(items)), gold), len(clusters))
            for level, clusters in zip(("events", "storylines"), _levels(items, threshold))}


def window_pairs(data_dir, threshold: float, level: str = "storylines", gold: str = "events") -> list[tuple]:
    """Pairwise figures per window at ``level``; ``gold``: the windows' event ids, or
    the summary pairs' events ("summary_pairs")."""
    items = news_items(data_dir)
    pair_event: dict[tuple[str, str], str] = {}
    if gold == "summary_pairs":
        path = require(data_dir / "news-windows" / "summary_pairs.jsonl")
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                for guid in obj["rss_items"]:
                    pair_event[(obj["window"], guid)] = obj["event"]
    out = []
    for window in windows(data_dir):
        records, index_of_url, row_index = [], {}, []
        for row in window.items:
            rec = record(items[row["guid"]])
            if rec.canonical_url not in index_of_url:
                index_of_url[rec.canonical_url] = len(records)
                records.append(rec)
            row_index.append(index_of_url[rec.canonical_url])
        events, lines = _levels([GroupInput(r.title, r.summary, r.published) for r in records], threshold)
        cluster_of = dict(enumerate(_labels(lines if level == "storylines" else events, len(records))))
        # one pair per two *articles*: a story in two feeds of one outlet (WSJ
        # World and WSJ Economy) is one article after ingest, not a free pair
        if gold == "summary_pairs":
            event_of = {row_index[i]: pair_event[(window.name, row["guid"])] for i, row in enumerate(window.items)
                        if (window.name, row["guid"]) in pair_event}
        else:
            event_of = {row_index[i]: row["event"] for i, row in enumerate(window.items) if row["event"]}
        labelled = [(cluster_of[k], event) for k, event in sorted(event_of.items())]
        p, r, f, tp, fp, fn = pairwise([c for c, _ in labelled], [e for _, e in labelled])
        out.append((window.name, len(labelled), p, r, f, tp, fp, fn))
    return out


def _pooled(rows: list[tuple]) -> tuple[float, float, float, int, int, int]:
    tp = sum(r[5] for r in rows)
    fp = sum(r[6] for r in rows)
    fn = sum(r[7] for r in rows)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp, fp, fn


def run(data_dir, threshold: float | None = None) -> Report:
    threshold = _threshold() if threshold is None else threshold
    report = Report("grouping", ["data", "items", "precision", "recall", "f1", "clusters / events"])
    by_level = ecb(data_dir, threshold)
    p, r, f, clusters = by_level["events"]
    report.rows.append(["ECB+ events (B-cubed)", 982, p, r, f, f"{clusters} / 86"])
    report.metrics["ecb_bcubed_f1"] = f
    report.metrics["ecb_bcubed_precision"] = p
    report.metrics["ecb_bcubed_recall"] = r
    p, r, f, clusters = by_level["storylines"]
    report.rows.append(["ECB+ storylines (B-cubed, undated)", 982, p, r, f, f"{clusters} / 86"])
    per_window = window_pairs(data_dir, threshold, "events")
    for name, n, wp, wr, wf, a, b, c in per_window:
        report.rows.append([f"{name} events (pairwise)", n, wp, wr, wf, f"tp {a} fp {b} fn {c}"])
    for label, level, gold, metric in (
            ("news windows events (pairwise, pooled)", "events", "events", "windows_pairwise_f1"),
            ("news windows storylines (pairwise, pooled; not used)", "storylines", "events",
             "windows_pairwise_storylines_f1"),
            ("summary-pair events, events (over-merge check)", "events", "summary_pairs", "summary_pairs_events_f1"),
            ("summary-pair events, storylines (not used)", "storylines", "summary_pairs",
             "summary_pairs_storylines_f1")):
        rows = per_window if (level, gold) == ("events", "events") else window_pairs(data_dir, threshold, level, gold)
        precision, recall, f1, tp, fp, fn = _pooled(rows)
        report.rows.append([label, sum(r[1] for r in rows), precision, recall, f1, f"tp {tp} fp {fp} fn {fn}"])
        report.metrics[metric] = f1
        if gold == "summary_pairs":
            report.metrics[metric.replace("_f1", "_precision")] = precision
    report.notes.append(f"grouping threshold {threshold} (default profile); storyline threshold "
                        f"{STORYLINE_THRESHOLD} (evaluation/storylines.py)")
    report.notes.append("both gated figures are the event level, the digest's grouping; storylines are shown for "
                        "information (the digest stopped using them in session 7)")
    return report
