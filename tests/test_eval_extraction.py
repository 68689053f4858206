"""Extraction evaluation: the benchmark's shingle metric, and our extractor against plain trafilatura."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance_digest.evaluation import DataMissing
from alliance_digest.evaluation.extraction import aggregate, page_counts, run, shingles, token_prf, tokenize


def test_tokens_and_shingles():
    assert tokenize("Hello, world! It's 2026.") == ["Hello", "world", "It", "s", "2026"]
    assert tokenize("") == [] and tokenize(None) == []
    assert shingles("one two") == {("one", "two"): 1}  # shorter than 4: one short shingle
    assert shingles("a b c d") == {("a", "b", "c", "d"): 1}
    assert shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert sum(shingles("a b c d a b c d").values()) == 5


def test_token_precision_recall_f1():
    # one of two shingles right on each side
    assert token_prf("a b c d e", "a b c d x") == pytest.approx((0.5, 0.5, 0.5))
    # punctuation ignored, case kept
    assert token_prf("Hello, world!", "Hello world") == pytest.approx((1.0, 1.0, 1.0))
    assert token_prf("A b c d", "a b c d") == pytest.approx((0.0, 0.0, 0.0))
    # shingles are a multiset: 1 of the gold's 5 (abcd twice) found, nothing extra
    assert token_prf("a b c d a b c d", "a b c d") == pytest.approx((1.0, 0.2, 1 / 3))
    assert page_counts("a b c d e", "a b c d x") == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_pages_are_averaged_like_the_benchmark():
    perfect = page_counts("a b c d e", "a b c d e")
    nothing = page_counts("a b c d e", "")  # empty extraction: recall 0, left out of precision
    both_empty = page_counts("", "")  # left out of both
    assert nothing == (0.0, 0.0, 1.0)
    assert aggregate([perfect, nothing, both_empty]) == pytest.approx((1.0, 0.5, 2 / 3))
    half = page_counts("a b c d e", "a b c d x")
    precision, recall, f1 = aggregate([perfect, half])
    assert (precision, recall) == pytest.approx((0.75, 0.75))
    assert f1 == pytest.approx(0.75)


def test_ours_not_worse_than_plain_trafilatura(shared_data: Path):
    try:
        report = run(shared_data, limit=40)
    except DataMissing as exc:
        pytest.skip(str(exc))
    assert report.stage == "extraction"
    assert report.columns == ["system", "precision", "recall", "f1", "pages", "seconds"]
    rows = {row[0]: row for row in report.rows}
    assert set(rows) == {"alliance-digest", "trafilatura (plain)"}
    assert all(row[4] == 40 for row in rows.values())
    metrics = report.metrics
    assert set(metrics) == {"extraction_f1", "extraction_precision", "extraction_recall",
                            "trafilatura_f1", "extraction_f1_minus_trafilatura"}
    assert metrics["extraction_f1"] == pytest.approx(rows["alliance-digest"][3])
    assert metrics["trafilatura_f1"] == pytest.approx(rows["trafilatura (plain)"][3])
    assert metrics["extraction_f1"] >= metrics["trafilatura_f1"] - 0.005
