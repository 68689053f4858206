"""Story grouping: articles about the same event become one story.

TF-IDF vectors of each article (headline counted twice, then the opening of
the body) are compared only where they share distinctive terms: each vector
is cut to its strongest terms and a sparse product of those cut vectors
yields the candidate pairs, so the work grows with the number of related
pairs, not with every pair in the window. Candidate pairs at or above the
merge threshold link articles into components (no merge can ever cross
two components); each component is then clustered by average linkage on
its exact cosines (SciPy), which keeps look-alike events apart better than
single linkage's chaining. A component too large for a dense matrix falls
back to average linkage over the sparse candidate graph, each article
keeping its closest candidates (a big window of look-alike news would
otherwise hold millions of pairs: gigabytes and minutes).

(A second level, storylines, was tried and is kept in
``evaluation/storylines.py`` for the record: the digest does not use it.)
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import TfidfVectorizer

BODY_CHARS = 1500  # the lead paragraphs say what the event is
CANDIDATE_TERMS = 25  # terms per article used to find candidate pairs
CANDIDATE_MIN = 0.02  # minimum overlap of cut vectors to compare a pair (at least)
MAX_DAYS_APART = 10  # coverage of one event is bunched in time
DENSE_LIMIT = 6000  # largest component clustered with a dense similarity matrix...
SPARSE_NEIGHBOURS = 100  # ...beyond it, each article's this many closest candidates (bounds time and memory)


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
    plain: sparse.csr_matrix | None = None  # without the name boost, for story terms
    plain_vocabulary: np.ndarray | None = None

    def terms(self, members: list[int], top: int = 20) -> dict[str, float]:
        """Strongest plain terms of a cluster's centroid (novelty, same-event checks).

        The name boost that separates look-alike events would make every
        story about the same two countries look alike here.
        """
        matrix = self.plain if self.plain is not None else self.matrix
        vocabulary = self.plain_vocabulary if self.plain is not None else self.vocabulary
        centroid = np.asarray(matrix[members].mean(axis=0)).ravel()
        order = np.argsort(-centroid)[:top]
        return {str(vocabulary[i]): round(float(centroid[i]), 4) for i in order if centroid[i] > 0}


# Capitalised words that do not start a sentence, and figures: names, places
# and numbers are what tell look-alike events apart (two earthquakes, two
# ambassador appointments), so they count three times.
_NAMES_AND_FIGURES = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z\-]+|\d[\d,.]*)\b")
NAME_BOOST = 2  # extra copies of each name or figure


def _document(item: GroupInput, boost_names: bool = True) -> str:
    text = (item.text or "")[:BODY_CHARS]
    doc = f"{item.title}. {item.title}. {text}"
    if not boost_names:
        return doc
    names = " ".join(_NAMES_AND_FIGURES.findall(f"{item.title}. {text}"))
    return doc + " " + " ".join([names] * NAME_BOOST)


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


def vectorise(items: list[GroupInput], background: list[GroupInput] = (),
              boost_names: bool = True) -> tuple[sparse.csr_matrix, np.ndarray]:
    """TF-IDF rows for ``items``; term weights learnt from ``items`` plus ``background``.

    Grouping a subset (the relevant articles) with weights from the whole
    window keeps a word common in the window (say "shipbuilding" in a
    fortnight of shipbuilding news) from looking distinctive.
    """
    corpus = list(items) + list(background)
    vectorizer = TfidfVectorizer(
        stop_words="english", sublinear_tf=True, lowercase=True, dtype=np.float32,
        token_pattern=r"(?u)\b[\w][\w\-\+\.]*\w\b|\b\w\b",
        max_df=0.5 if len(corpus) >= 50 else 1.0,
    )
    try:
        vectorizer.fit([_document(i, boost_names) for i in corpus])
        matrix = vectorizer.transform([_document(i, boost_names) for i in items])
    except ValueError:  # empty vocabulary: nothing but stop words
        return sparse.csr_matrix((len(items), 1), dtype=np.float32), np.array(["_"])
    return matrix.tocsr(), vectorizer.get_feature_names_out()


@dataclass
class Pairs:
    """Article pairs ``rows[k] < cols[k]`` with their cosines ``sims[k]``, as arrays.

    Arrays, not a dict of tuples: a big window compares millions of pairs,
    and a Python tuple and float per pair cost gigabytes.
    """

    rows: np.ndarray
    cols: np.ndarray
    sims: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls) -> "Pairs":
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))

    def within(self, members: np.ndarray, n: int) -> "Pairs":
        """The pairs with both ends in ``members``, renumbered 0..len(members)-1 in their order."""
        index = np.full(n, -1, dtype=np.int64)
        index[members] = np.arange(len(members))
        keep = (index[self.rows] >= 0) & (index[self.cols] >= 0)
        return Pairs(index[self.rows[keep]], index[self.cols[keep]], self.sims[keep])


    def strongest(self, n: int, keep: int) -> "Pairs":
        """Only the pairs among the ``keep`` most similar of at least one of their two articles."""
        if len(self) <= keep * n // 2:
            return self
        ends = np.concatenate([self.rows, self.cols])
        pair = np.concatenate([np.arange(len(self))] * 2)
        order = np.lexsort((-np.concatenate([self.sims, self.sims]), ends))
        first = np.searchsorted(ends[order], np.arange(n))
        rank = np.arange(len(order)) - first[ends[order]]
        chosen = np.zeros(len(self), dtype=bool)
        chosen[pair[order][rank < keep]] = True
        return Pairs(self.rows[chosen], self.cols[chosen], self.sims[chosen])


PAIR_BLOCK = 2000  # articles whose candidate pairs are found in one sparse product (bounds its memory)


def candidate_pairs(matrix: sparse.csr_matrix, items: list[GroupInput], minimum: float = CANDIDATE_MIN) -> Pairs:
    """Cosine of every pair sharing distinctive terms (and close enough in time)."""
    pruned = _prune_rows(matrix, CANDIDATE_TERMS)
    transposed = pruned.T.tocsc()
    stamps = np.array([i.published.timestamp() if i.published else np.nan for i in items])
    found = []
    for start in range(0, matrix.shape[0], PAIR_BLOCK):
        overlap = (pruned[start:start + PAIR_BLOCK] @ transposed).tocoo()
        rows = overlap.row.astype(np.int64) + start
        keep = (overlap.col > rows) & (overlap.data >= minimum)
        rows, cols = rows[keep], overlap.col[keep].astype(np.int64)
        gap = np.nan_to_num(np.abs(stamps[rows] - stamps[cols]), nan=0.0)
        near = gap <= MAX_DAYS_APART * 86400
        rows, cols = rows[near], cols[near]
        if len(rows):
            sims = np.asarray(matrix[rows].multiply(matrix[cols]).sum(axis=1), dtype=np.float32).ravel()
            found.append((rows.astype(np.int32), cols.astype(np.int32), sims))
    if not found:
        return Pairs.empty()
    return Pairs(*(np.concatenate(parts) for parts in zip(*found)))


def average_link(n: int, pairs: Pairs, threshold: float) -> list[list[int]]:
    """Average-linkage clustering over a sparse similarity graph (pairs not given count as 0)."""
    size = {i: 1 for i in range(n)}
    members = {i: [i] for i in range(n)}
    links: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for i, j, sim in zip(pairs.rows.tolist(), pairs.cols.tolist(), pairs.sims.tolist()):
        links[i][j] = links[i].get(j, 0.0) + sim
        links[j][i] = links[j].get(i, 0.0) + sim
    strong = pairs.sims >= threshold
    heap = list(zip((-pairs.sims[strong].astype(np.float64)).tolist(), pairs.rows[strong].tolist(),
                    pairs.cols[strong].tolist()))
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


def components(n: int, pairs: Pairs, threshold: float) -> list[np.ndarray]:
    """Connected components of the graph of pairs at or above ``threshold`` (each an array of indices)."""
    strong = pairs.sims >= threshold
    graph = sparse.csr_matrix((np.ones(int(strong.sum()), dtype=np.int8), (pairs.rows[strong], pairs.cols[strong])),
                              shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels, minlength=count))[:-1])


def _too_far_apart(items: list[GroupInput], members: list[int]) -> np.ndarray:
    stamps = np.array([items[i].published.timestamp() if items[i].published else np.nan for i in members],
                      dtype=np.float32)
    gap = np.abs(stamps[:, None] - stamps[None, :])
    return gap > MAX_DAYS_APART * 86400  # NaN (no date) compares False


def _dense_average_link(matrix: sparse.csr_matrix, items: list[GroupInput], members: list[int],
                        threshold: float) -> list[list[int]]:
    sub = matrix[members]
    dist = (sub @ sub.T).toarray()  # float32 cosines
    np.clip(dist, 0.0, 1.0, out=dist)
    dist[_too_far_apart(items, members)] = 0.0
    np.subtract(1.0, dist, out=dist)  # in place: a component can be thousands wide
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False).astype(np.float64)
    del dist
    tree = linkage(condensed, method="average")
    labels = fcluster(tree, t=1.0 - threshold + 1e-9, criterion="distance")
    out: dict[int, list[int]] = {}
    for member, label in zip(members, labels):
        out.setdefault(int(label), []).append(member)
    return list(out.values())


def group(items: list[GroupInput], threshold: float = 0.18, background: list[GroupInput] = ()) -> Grouping:
    """Group ``items`` into events; deterministic for the same input order.

    ``background``: the rest of the window, used only for term weights.
    """
    if not items:
        return Grouping([], sparse.csr_matrix((0, 1)), np.array(["_"]), 0)
    matrix, vocabulary = vectorise(items, background)
    # the cut vectors' overlap is a lower bound of the cosine: far below the
    # threshold it is not worth the exact comparison
    pairs = candidate_pairs(matrix, items, max(CANDIDATE_MIN, threshold / 3))
    clusters: list[list[int]] = []
    for members in components(len(items), pairs, threshold):
        members = members.tolist()
        if len(members) == 1:
            clusters.append(members)
        elif len(members) <= DENSE_LIMIT:
            clusters.extend(_dense_average_link(matrix, items, members, threshold))
        else:
            sub_pairs = pairs.within(np.asarray(members), len(items)).strongest(len(members), SPARSE_NEIGHBOURS)
            clusters.extend([[members[k] for k in c] for c in average_link(len(members), sub_pairs, threshold)])
    clusters = sorted(sorted(c) for c in clusters)
    plain, plain_vocabulary = vectorise(items, background, boost_names=False)
    return Grouping(clusters, matrix, vocabulary, len(pairs), plain, plain_vocabulary)


def term_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two sparse term-weight dicts."""
    if not a or not b:
        return 0.0
    dot = sum(w * b[t] for t, w in a.items() if t in b)
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb) if na and nb else 0.0
