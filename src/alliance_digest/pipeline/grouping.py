"""Story grouping: articles about the same event become one story.

TF-IDF vectors of each article (headline counted twice, then the opening of
the body) are compared only where they share distinctive terms: each vector
is cut to its strongest terms and a sparse product of those cut vectors
yields the candidate pairs, so the work grows with the number of related
pairs, not with every pair in the window. Candidates are scored with the
full cosine and merged by average linkage over that sparse graph (pairs never
compared count as 0), which keeps look-alike events apart better than
single linkage's chaining.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

BODY_CHARS = 1500  # the lead paragraphs say what the event is
CANDIDATE_TERMS = 25  # terms per article used to find candidate pairs
CANDIDATE_MIN = 0.02  # minimum overlap of cut vectors to compare a pair
MAX_DAYS_APART = 10  # coverage of one event is bunched in time


@dataclass
class GroupInput:
    title: str
    text: str
    published: datetime | None = None


@dataclass
class Grouping:
    clusters: list[list[int]]  # indices into the input, each cluster sorted
    matrix: sparse.csr_matrix
    vocabulary: np.ndarray
    compared_pairs: int

    def terms(self, members: list[int], top: int = 20) -> dict[str, float]:
        """Strongest terms of a cluster's centroid (used for novelty checks)."""
        centroid = np.asarray(self.matrix[members].mean(axis=0)).ravel()
        order = np.argsort(-centroid)[:top]
        return {str(self.vocabulary[i]): round(float(centroid[i]), 4) for i in order if centroid[i] > 0}


def _document(item: GroupInput) -> str:
    return f"{item.title}. {item.title}. {(item.text or '')[:BODY_CHARS]}"


def _prune_rows(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Keep only each row's ``keep`` largest weights."""
    matrix = matrix.tocsr(copy=True)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        if end - start > keep:
            data = matrix.data[start:end]
            cutoff = np.partition(data, -keep)[-keep]
            data[data < cutoff] = 0
    matrix.eliminate_zeros()
    return matrix


def vectorise(items: list[GroupInput]) -> tuple[sparse.csr_matrix, np.ndarray]:
    vectorizer = TfidfVectorizer(
        stop_words="english", sublinear_tf=True, lowercase=True, dtype=np.float32,
        token_pattern=r"(?u)\b[\w][\w\-\+\.]*\w\b|\b\w\b",
        max_df=0.5 if len(items) >= 50 else 1.0,
    )
    try:
        matrix = vectorizer.fit_transform([_document(i) for i in items])
    except ValueError:  # empty vocabulary: nothing but stop words
        return sparse.csr_matrix((len(items), 1), dtype=np.float32), np.array(["_"])
    return matrix.tocsr(), vectorizer.get_feature_names_out()


def candidate_pairs(matrix: sparse.csr_matrix, items: list[GroupInput]) -> dict[tuple[int, int], float]:
    """Cosine of every pair sharing distinctive terms (and close enough in time)."""
    pruned = _prune_rows(matrix, CANDIDATE_TERMS)
    overlap = sparse.triu(pruned @ pruned.T, k=1).tocoo()
    keep = overlap.data >= CANDIDATE_MIN
    rows, cols = overlap.row[keep], overlap.col[keep]
    if len(rows) == 0:
        return {}
    sims = np.asarray(matrix[rows].multiply(matrix[cols]).sum(axis=1)).ravel()
    pairs: dict[tuple[int, int], float] = {}
    for i, j, sim in zip(rows.tolist(), cols.tolist(), sims.tolist()):
        a, b = items[i].published, items[j].published
        if a and b and abs((a - b).total_seconds()) > MAX_DAYS_APART * 86400:
            continue
        pairs[(i, j)] = sim
    return pairs


def average_link(n: int, pairs: dict[tuple[int, int], float], threshold: float) -> list[list[int]]:
    """Average-linkage clustering over a sparse similarity graph."""
    size = {i: 1 for i in range(n)}
    members = {i: [i] for i in range(n)}
    links: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for (i, j), sim in pairs.items():
        links[i][j] = links[i].get(j, 0.0) + sim
        links[j][i] = links[j].get(i, 0.0) + sim
    heap = [(-sim, i, j) for (i, j), sim in pairs.items() if sim >= threshold]
    heapq.heapify(heap)
    next_id = n
    while heap:
        neg, a, b = heapq.heappop(heap)
        if a not in size or b not in size:
            continue
        current = links[a].get(b, 0.0) / (size[a] * size[b])
        if not math.isclose(current, -neg, rel_tol=1e-9, abs_tol=1e-12):
            continue  # stale entry; the fresh one is in the heap
        new = next_id
        next_id += 1
        size[new] = size.pop(a) + size.pop(b)
        members[new] = members.pop(a) + members.pop(b)
        merged: dict[int, float] = {}
        for old in (a, b):
            for other, total in links.pop(old).items():
                if other in (a, b):
                    continue
                merged[other] = merged.get(other, 0.0) + total
                del links[other][old]
        links[new] = merged
        for other, total in merged.items():
            links[other][new] = total
            avg = total / (size[new] * size[other])
            if avg >= threshold:
                heapq.heappush(heap, (-avg, new, other))
    clusters = [sorted(m) for m in members.values()]
    clusters.sort(key=lambda c: c[0])
    return clusters


def group(items: list[GroupInput], threshold: float = 0.15) -> Grouping:
    """Group ``items`` into events; deterministic for the same input order."""
    if not items:
        return Grouping([], sparse.csr_matrix((0, 1)), np.array(["_"]), 0)
    matrix, vocabulary = vectorise(items)
    pairs = candidate_pairs(matrix, items)
    return Grouping(average_link(len(items), pairs, threshold), matrix, vocabulary, len(pairs))


def term_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two sparse term-weight dicts."""
    if not a or not b:
        return 0.0
    dot = sum(w * b[t] for t, w in a.items() if t in b)
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb) if na and nb else 0.0
