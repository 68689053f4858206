"""Storylines: event clusters joined into a fortnight's developments (not used by the digest).

Sessions 3-6 folded the relevant events of one storyline into one digest
story, to match the news windows' gold events (developments such as "the
stalled tariff talks and the 7 July letter"). Session 7 stopped it: on the
four windows the fold changed no drafted story, and on full-text news (the
sample corpus) it chained an economic "2+2", a policy forum and an AI
testing pact into one paragraph, three stories in the reference issue. The
evaluation still reports the storyline level for information (docs/QUALITY.md).

Storylines join event clusters that share *specific* words: a term found in
more than STORYLINE_MAX_DF of the window's articles ("Trump", "tariffs",
"Japan" in a US-Japan fortnight) says what the window is about, not which
development, so it is dropped; a term found in one article links nothing.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import TfidfVectorizer

from alliance_digest.pipeline.grouping import BODY_CHARS, DENSE_LIMIT, GroupInput, Pairs, average_link, components

STORYLINE_THRESHOLD = 0.05  # average-link cosine of cluster centroids (docs/QUALITY.md sweep)
STORYLINE_DAYS = 14  # clusters whose reports are further apart never join
STORYLINE_MAX_DF = 0.10  # share of the window's articles above which a term is ubiquitous
STORYLINE_MIN_ITEMS = 50  # smaller sets: every term is kept (no reliable frequencies)

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def _storyline_tokens(doc: str) -> list[str]:
    """Words without possessives or plural -s, and adjacent word pairs.

    Feed teasers say "bonds" where the next says "bond", "Japan's" where the
    next says "Japan": folded, so that the few words two teasers share count.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = []
    for token in _WORD.findall(doc.lower().replace("\u2019", "'")):
        token = token.removesuffix("'s").strip("'-")
        if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
            token = token[:-1]
        if len(token) > 1 and token not in ENGLISH_STOP_WORDS:
            words.append(token)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def storylines(items: list[GroupInput], clusters: list[list[int]],
               threshold: float = STORYLINE_THRESHOLD) -> list[list[int]]:
    """Join event clusters of ``items`` into storylines (lists of cluster indices).

    Average linkage over the clusters' centroids of specific terms; clusters
    more than STORYLINE_DAYS apart never join. Deterministic for the same input.
    """
    if len(clusters) < 2:
        return [[k] for k in range(len(clusters))]
    from sklearn.preprocessing import normalize

    docs = [f"{i.title}. {i.title}. {(i.text or '')[:BODY_CHARS]}" for i in items]
    vectorizer = TfidfVectorizer(
        analyzer=_storyline_tokens, sublinear_tf=True, dtype=np.float32, min_df=2,
        max_df=STORYLINE_MAX_DF if len(items) >= STORYLINE_MIN_ITEMS else 1.0,
    )
    try:
        matrix = normalize(vectorizer.fit_transform(docs))
    except ValueError:  # no term shared by two articles (or every term ubiquitous)
        return [[k] for k in range(len(clusters))]
    assignment = np.zeros(len(items), dtype=np.int64)
    for k, members in enumerate(clusters):
        assignment[members] = k
    # centroid = mean of member rows: one sparse product, then row-normalised
    membership = sparse.csr_matrix((np.ones(len(items), dtype=np.float32), (assignment, np.arange(len(items)))),
                                   shape=(len(clusters), len(items)))
    centroids = normalize(membership @ matrix)
    sims = sparse.triu(centroids @ centroids.T, k=1).tocoo()
    stamps = [[items[i].published.timestamp() for i in members if items[i].published] for members in clusters]
    first = np.array([min(s) if s else np.nan for s in stamps])
    last = np.array([max(s) if s else np.nan for s in stamps])
    rows, cols, data = sims.row, sims.col, sims.data
    gap = np.maximum(first[rows], first[cols]) - np.minimum(last[rows], last[cols])
    near = ~(np.nan_to_num(gap, nan=0.0) > STORYLINE_DAYS * 86400)  # undated: no time limit
    pairs = Pairs(rows[near], cols[near], data[near])
    out: list[list[int]] = []
    for members in components(len(clusters), pairs, threshold):
        members = members.tolist()
        if len(members) == 1:
            out.append(members)
        elif len(members) <= DENSE_LIMIT:  # SciPy's average linkage, as for events
            sub = centroids[members]
            dist = (sub @ sub.T).toarray()
            np.clip(dist, 0.0, 1.0, out=dist)
            span_gap = (np.maximum(first[members][:, None], first[members][None, :])
                        - np.minimum(last[members][:, None], last[members][None, :]))
            dist[np.nan_to_num(span_gap, nan=0.0) > STORYLINE_DAYS * 86400] = 0.0
            dist = 1.0 - dist
            np.fill_diagonal(dist, 0.0)
            labels = fcluster(linkage(squareform(dist, checks=False).astype(np.float64), method="average"),
                              t=1.0 - threshold + 1e-9, criterion="distance")
            lines: dict[int, list[int]] = {}
            for member, label in zip(members, labels):
                lines.setdefault(int(label), []).append(member)
            out.extend(lines.values())
        else:
            sub_pairs = pairs.within(np.asarray(members), len(clusters))
            out.extend([[members[k] for k in line] for line in average_link(len(members), sub_pairs, threshold)])
    return sorted(sorted(line) for line in out)
