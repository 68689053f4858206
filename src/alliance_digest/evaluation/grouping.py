"""Story grouping quality: B-cubed on ECB+, pairwise F1 on the news windows' event ids.

ECB+ (982 documents, 86 events, each topic pairing two look-alike events)
is grouped as one window with relevance ignored; a document's first line
stands in for its headline. The news windows are grouped as the product
groups them (title + feed description, publication times), after the same
canonical-URL de-duplication the ingest does; pairs are scored over the
distinct articles that carry an event id (a row repeated in two feeds with
the same URL counts once), within each window, pooled over the windows.
"""

from __future__ import annotations

from alliance_digest.evaluation import Report
from alliance_digest.evaluation._data import ecb_documents, news_items, record, windows
from alliance_digest.evaluation.metrics import bcubed, pairwise
from alliance_digest.pipeline.grouping import GroupInput, group
from alliance_digest.profile import parse_profile


def _threshold() -> float:
    import tomllib

    from alliance_digest.profile import default_profile_text

    return parse_profile(tomllib.loads(default_profile_text())).grouping_threshold


def ecb(data_dir, threshold: float) -> tuple[float, float, float, int, int]:
    docs = ecb_documents(data_dir)
    items = []
    for doc in docs:
        first, _, _ = doc["text"].strip().partition("\n")
        items.append(GroupInput(first[:300], doc["text"]))
    result = group(items, threshold)
    labels = [0] * len(items)
    for k, members in enumerate(result.clusters):
        for i in members:
            labels[i] = k
    p, r, f = bcubed(labels, [d["event_cluster"] for d in docs])
    return p, r, f, len(result.clusters), len({d["event_cluster"] for d in docs})


def window_pairs(data_dir, threshold: float) -> list[tuple]:
    items = news_items(data_dir)
    out = []
    for window in windows(data_dir):
        records, index_of_url, row_index = [], {}, []
        for row in window.items:
            rec = record(items[row["guid"]])
            if rec.canonical_url not in index_of_url:
                index_of_url[rec.canonical_url] = len(records)
                records.append(rec)
            row_index.append(index_of_url[rec.canonical_url])
        result = group([GroupInput(r.title, r.summary, r.published) for r in records], threshold)
        cluster_of = {}
        for k, members in enumerate(result.clusters):
            for i in members:
                cluster_of[i] = k
        # one pair per two *articles*: a story in two feeds of one outlet (WSJ
        # World and WSJ Economy) is one article after ingest, not a free pair
        event_of = {row_index[i]: row["event"] for i, row in enumerate(window.items) if row["event"]}
        labelled = [(cluster_of[k], event) for k, event in sorted(event_of.items())]
        p, r, f, tp, fp, fn = pairwise([c for c, _ in labelled], [e for _, e in labelled])
        out.append((window.name, len(labelled), p, r, f, tp, fp, fn))
    return out


def run(data_dir, threshold: float | None = None) -> Report:
    threshold = _threshold() if threshold is None else threshold
    report = Report("grouping", ["data", "items", "precision", "recall", "f1", "clusters / events"])
    p, r, f, clusters, events = ecb(data_dir, threshold)
    report.rows.append(["ECB+ (B-cubed)", 982, p, r, f, f"{clusters} / {events}"])
    report.metrics["ecb_bcubed_f1"] = f
    report.metrics["ecb_bcubed_precision"] = p
    report.metrics["ecb_bcubed_recall"] = r
    tp = fp = fn = 0
    for name, n, wp, wr, wf, a, b, c in window_pairs(data_dir, threshold):
        report.rows.append([f"{name} (pairwise)", n, wp, wr, wf, f"tp {a} fp {b} fn {c}"])
        tp, fp, fn = tp + a, fp + b, fn + c
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    report.rows.append(["news windows (pairwise, pooled)", "", precision, recall, f1, f"tp {tp} fp {fp} fn {fn}"])
    report.metrics["windows_pairwise_f1"] = f1
    report.notes.append(f"grouping threshold {threshold} (default profile)")
    return report
