"""Clustering and summary metrics used by the evaluations (plain functions)."""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations


def bcubed(predicted: list[int], gold: list) -> tuple[float, float, float]:
    """B-cubed precision, recall, F1 of cluster labels against gold labels."""
    n = len(gold)
    if n == 0:
        return 0.0, 0.0, 0.0
    pred_size = Counter(predicted)
    gold_size = Counter(gold)
    both = Counter(zip(predicted, gold))
    precision = sum(both[(p, g)] / pred_size[p] for p, g in zip(predicted, gold)) / n
    recall = sum(both[(p, g)] / gold_size[g] for p, g in zip(predicted, gold)) / n
    return precision, recall, _f1(precision, recall)


def pairwise(predicted: list[int], gold: list) -> tuple[float, float, float, int, int, int]:
    """Pairwise precision, recall, F1 (and tp, fp, fn) over all item pairs."""
    tp = fp = fn = 0
    for i, j in combinations(range(len(gold)), 2):
        same_pred, same_gold = predicted[i] == predicted[j], gold[i] == gold[j]
        tp += same_pred and same_gold
        fp += same_pred and not same_gold
        fn += same_gold and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, _f1(precision, recall), tp, fp, fn


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens (ROUGE's default, without stemming)."""
    return _TOKEN.findall((text or "").lower())


def rouge_n(candidate: str, reference: str, n: int = 1) -> tuple[float, float, float]:
    """ROUGE-N precision, recall, F1 (clipped n-gram overlap)."""
    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    cand, ref = grams(rouge_tokens(candidate)), grams(rouge_tokens(reference))
    overlap = sum((cand & ref).values())
    precision = overlap / sum(cand.values()) if cand else 0.0
    recall = overlap / sum(ref.values()) if ref else 0.0
    return precision, recall, _f1(precision, recall)
