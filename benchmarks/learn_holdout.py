"""Held-out check of the learned relevance model on the four labelled news windows.

For each window of ../shared/data/news-windows (read in place, never copied),
train the model (`digest learn`'s) on the labelled items of the other three
windows, then score the held-out window's items with (a) the rule scorer
alone and (b) the learned scorer, and report:

- items: average precision of "label >= 1" over the whole window, precision
  of the top 5 and top 10 items, and how many items clear the profile's
  threshold (relevant of them / relevant in the window);
- stories (unless --items-only): the window ingested into a temporary
  workspace and drafted, judged as `digest eval selection` judges it
  (a story counts when most of its items belong to one labelled event;
  precision@k over the first k = min(5, events) stories, divided by the
  number drafted when fewer), with the lead-is-core flag and core recall;
- why the blend keeps model-only items under the threshold: how often rule
  hits and items only the model likes are editorial picks.

With --blends it also compares other ways of combining rule score and model
probability (letting confident model-only items clear the bar, a mean, a
max, the model alone); that comparison chose the default blend of
:class:`alliance_digest.pipeline.learned.LearnedScorer`.

    python benchmarks/learn_holdout.py [--data ../shared/data] [--blends] [--items-only] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(data_dir: Path) -> dict[str, list]:
    """Window name -> [(record, label)], records read as `digest ingest` reads the items file."""
    from alliance_digest.pipeline.jsonl import parse_jsonl
    from alliance_digest.pipeline.urls import canonicalise

    base = data_dir / "news-windows"
    with gzip.open(next(base.glob("items_*.jsonl.gz")), "rb") as fh:
        result = parse_jsonl(fh.read(), "items")
    by_url = {}
    for rec in result.articles:  # one article per canonical URL, as the store keeps them
        by_url.setdefault(rec.canonical_url, rec)
    windows = {}
    for spec in json.loads((base / "windows" / "windows.json").read_text("utf-8"))["windows"]:
        labels: dict[str, int] = {}
        for line in (base / "windows" / spec["file"]).read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                key = canonicalise(row["url"])
                labels[key] = max(labels.get(key, 0), int(row["label"]))
        windows[spec["name"]] = [(by_url[url], label) for url, label in labels.items() if url in by_url]
    return windows


def average_precision(scores: list[float], relevant: list[bool]) -> float:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if relevant[i]:
            hits += 1
            total += hits / rank
    return total / max(1, sum(relevant))


def precision_at(scores: list[float], relevant: list[bool], k: int) -> float:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # ties keep the window's order
    return sum(relevant[i] for i in order[:k]) / k


def item_metrics(items, scores, threshold: float) -> dict:
    relevant = [label >= 1 for _, label in items]
    cleared = [s >= threshold for s in scores]
    return {
        "ap": round(average_precision(scores, relevant), 4),
        "p@5": precision_at(scores, relevant, 5),
        "p@10": precision_at(scores, relevant, 10),
        "cleared": sum(cleared),
        "cleared_relevant": sum(c and r for c, r in zip(cleared, relevant)),
        "relevant": sum(relevant),
    }


@contextmanager
def using_blend(function):
    """Make LearnedScorer combine scores with ``function(rule, p, threshold)`` for a while."""
    from alliance_digest.pipeline import learned

    saved = learned.blend
    learned.blend = function
    try:
        yield
    finally:
        learned.blend = saved


def story_metrics(data_dir: Path, blends: dict, windows: list[str]) -> dict[str, dict[str, dict]]:
    """`digest eval selection`'s judgement of the drafts, per window and blend (rules: no model)."""
    from alliance_digest.evaluation import selection
    from alliance_digest.evaluation._data import news_items, windows as read_windows

    items = news_items(data_dir)
    all_windows = read_windows(data_dir)
    out: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="learn-holdout-") as tmp:
        for n, window in enumerate(w for w in all_windows if w.name in windows):
            others = [w for w in all_windows if w is not window]
            out[window.name] = {}
            for k, (name, function) in enumerate(blends.items()):
                root = Path(tmp) / f"{n}-{k}"
                if function is None:
                    result = selection.evaluate_window(window, items, root, None)
                else:
                    with using_blend(function):
                        result = selection.evaluate_window(window, items, root, others)
                out[window.name][name] = {key: result[key] for key in
                                          ("drafted", "k", "precision_at_k", "lead_core", "has_core", "core_recall")}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--blends", action="store_true", help="Also compare other blends.")
    parser.add_argument("--items-only", action="store_true", help="Skip drafting (item-level figures only).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()
    if not (args.data / "news-windows").is_dir():
        print(f"no news-windows data under {args.data}", file=sys.stderr)
        return 2

    from alliance_digest.pipeline import learned
    from alliance_digest.pipeline.learned import Example, LearnedScorer, RelevanceModel
    from alliance_digest.pipeline.relevance import RelevanceScorer
    from alliance_digest.profile import default_profile_text, parse_profile

    profile = parse_profile(tomllib.loads(default_profile_text()))
    rules = RelevanceScorer(profile.topic)
    t = profile.topic.threshold
    begin = time.perf_counter()
    windows = load(args.data)

    def over_the_bar(r, p, threshold):  # as the default, but confident model-only items clear the bar
        damp = learned.DAMP_FLOOR + (1 - learned.DAMP_FLOOR) * min(1.0, p / learned.DOUBT)
        return max(r * damp, min(threshold + 0.05, 0.7 * p))

    blends = {"rules": None, "learned": learned.blend}
    if args.blends:
        blends.update({
            "over the bar": over_the_bar,
            "mean": lambda r, p, threshold: 0.5 * r + 0.5 * p,
            "max": lambda r, p, threshold: max(r, p),
            "model alone": lambda r, p, threshold: p,
        })
    items_out: dict[str, dict[str, dict]] = {}
    picks = {"rule hits": [0, 0], "model only, p >= 0.9": [0, 0], "model only, 0.5 <= p < 0.9": [0, 0]}
    for held_out, items in windows.items():
        train = [Example(rec.title, rec.body, label)
                 for name, its in windows.items() if name != held_out for rec, label in its]
        scorer = LearnedScorer(rules, RelevanceModel.train(train, rules))
        pairs = []
        for rec, label in items:
            model = scorer.score(rec.title, rec.body).model
            r, p = model["rule_score"], model["probability"]
            pairs.append((r, p))
            kind = ("rule hits" if r >= t else "model only, p >= 0.9" if p >= 0.9
                    else "model only, 0.5 <= p < 0.9" if p >= 0.5 else None)
            if kind:
                picks[kind][0] += 1
                picks[kind][1] += label >= 1
        items_out[held_out] = {
            name: item_metrics(items, [r if f is None else round(f(r, p, t), 4) for r, p in pairs], t)
            for name, f in blends.items()}
    stories = {} if args.items_only else story_metrics(args.data, blends, list(windows))
    seconds = time.perf_counter() - begin

    if args.json:
        print(json.dumps({"items": items_out, "stories": stories, "picks": picks, "seconds": round(seconds, 1)},
                         indent=2))
        return 0
    head = (f"{'held out':<16} {'scorer':<13} {'AP':>6} {'P@5':>5} {'P@10':>5} {'cleared':>12}"
            + ("" if args.items_only else f" {'drafted':>7} {'P@k':>5} {'lead core':>9} {'core rec':>8}"))
    print(head)
    print("-" * len(head))
    for held_out, by_blend in items_out.items():
        for name, m in by_blend.items():
            line = (f"{held_out:<16} {name:<13} {m['ap']:6.3f} {m['p@5']:5.2f} {m['p@10']:5.2f} "
                    f"{m['cleared_relevant']:>4}/{m['cleared']:<3}of{m['relevant']:>3}")
            if stories:
                s = stories[held_out][name]
                lead = ("yes" if s["lead_core"] else "NO") if s["has_core"] else "-"
                line += f" {s['drafted']:>7} {s['precision_at_k']:5.2f} {lead:>9} {s['core_recall']:8.2f}"
            print(line)
    print("cleared: relevant items / items at or above the threshold, of the relevant items in the window")
    for name in blends:
        mean = lambda key: sum(w[name][key] for w in items_out.values()) / len(items_out)
        line = f"mean {name:<13} AP {mean('ap'):.3f}  P@5 {mean('p@5'):.2f}  P@10 {mean('p@10'):.2f}"
        if stories:
            worst = min(w[name]["precision_at_k"] - w["rules"]["precision_at_k"] for w in stories.values())
            p_at_k = sum(w[name]["precision_at_k"] for w in stories.values()) / len(stories)
            line += f"  stories P@k {p_at_k:.2f} (worst window vs rules {worst:+.2f})"
        print(line)
    print("editorial picks (label >= 1) among held-out items: " + "; ".join(
        f"{kind} {hits}/{count}" for kind, (count, hits) in picks.items()))
    print(f"({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
