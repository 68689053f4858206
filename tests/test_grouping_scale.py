"""Grouping a big window: a component too large for a dense matrix is clustered over sparse pairs.

The benchmark (`benchmarks/ingest_draft.py --articles 15000`) measures time
and memory; these tests pin what the sparse path must keep doing.
"""

from __future__ import annotations

import numpy as np

from alliance_digest.pipeline import grouping
from alliance_digest.pipeline.grouping import Pairs, group
from test_stages import STORY_A, STORY_B, STORY_C, _filler, _items


def _three_stories():
    return (_items(STORY_A, "The cabinet approved Hiro Sato, a former deputy foreign minister, for the post. "
                            "Sato replaces Ken Ito, who served three years.")
            + _items(STORY_B, "The magnitude 6.1 earthquake shook Antofagasta; officials reported damage to roads.")
            + _items(STORY_C, "The White House nominated Daniel Kim, a trade negotiator, to serve in Seoul.")
            + _filler())


def test_the_sparse_path_groups_as_the_dense_one(monkeypatch):
    items = _three_stories()
    dense = group(items).clusters
    monkeypatch.setattr(grouping, "DENSE_LIMIT", 2)  # every component "too big": the sparse path
    monkeypatch.setattr(grouping, "SPARSE_NEIGHBOURS", 3)
    assert group(items).clusters == dense
    assert [c for c in dense if c[0] < 7] == [[0, 1, 2], [3, 4], [5, 6]]


def test_each_article_keeps_its_closest_pairs_only():
    # article 0 is close to 1..5 (0.9 down to 0.5); 1..5 have no other pair
    pairs = Pairs(np.zeros(5, np.int32), np.arange(1, 6, dtype=np.int32),
                  np.array([0.5, 0.9, 0.7, 0.6, 0.8], np.float32))
    kept = pairs.strongest(6, keep=2)
    # every pair is among the 2 closest of its other end (each of 1..5 has one pair), so all stay...
    assert len(kept) == 5
    # ...but with a third article sharing them, the weakest pairs of a crowded article go
    crowded = Pairs(np.array([0, 0, 0, 1, 1, 1], np.int32), np.array([2, 3, 4, 2, 3, 4], np.int32),
                    np.array([0.9, 0.2, 0.8, 0.3, 0.7, 0.6], np.float32))
    kept = crowded.strongest(5, keep=1)
    assert sorted(zip(kept.rows.tolist(), kept.cols.tolist())) == [(0, 2), (0, 4), (1, 3)]
