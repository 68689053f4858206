"""Learned relevance: a small, explainable model trained on the editors' labels.

The rule scorer (:mod:`.relevance`) is transparent but only knows the words
the profile lists. ``digest learn`` fits a logistic regression on labelled
examples (an item is "for the digest" when its label is 1, related, or 2,
core) and the learned model then adjusts the rule score.

Features: TF-IDF of word unigrams and bigrams of the headline (counted twice,
as in grouping) and the text, sublinear term frequency, L2-normalised, words
seen in at least two examples; plus the rule scorer's view of the item (its
score, and how much each entity group of the profile is mentioned, on a log
scale), so the model learns *corrections* to the rules rather than
re-learning them (the mention features raised held-out average precision
of the model alone from 0.66 to 0.70). Core examples weigh twice as much as related ones, and the
two classes are balanced, so the probability reads "how much this looks like
the items the editors kept" whatever share of the examples was kept.

The model is stored as JSON (vocabulary with idf and coefficient, intercept,
training counts, format version): safe to load, diffable, and every score
can be explained as a sum of per-word contributions. scikit-learn is used
only to fit; predicting is a dot product over the words present.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alliance_digest.pipeline.records import Relevance
from alliance_digest.pipeline.relevance import BODY_CHARS, RelevanceScorer

FORMAT = "alliance-digest-relevance-model/1"
RULE_FEATURE = "(rule score)"  # the name of the rule-score feature in explanations
ENTITY_FEATURE = "(mentions of {})"  # per entity group of the profile: how much it is mentioned
ENTITY_FEATURES = True  # False: words and the rule score only
MIN_DF = 2  # a word must occur in this many training examples to become a feature
C = 10.0  # inverse regularisation strength of the logistic regression
CORE_WEIGHT = 2.0  # a core (label 2) example counts this much more than a related one
EXPLAIN_WORDS = 8  # words kept in a score's explanation
DIGITS = 6  # significant digits kept for stored numbers (stored model == in-memory model)

# The blend (see LearnedScorer), chosen on four labelled windows, each held
# out in turn (benchmarks/learn_holdout.py); neighbouring values do as well.
LIFT_CEILING = 0.9  # an item the rules miss rises towards this share of the threshold
DOUBT = 0.1  # below this probability the model doubts a rule score...
DAMP_FLOOR = 0.5  # ...and shrinks it, at most to this fraction

_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-'][a-z0-9]+)*")
_STOP = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that "
    "these those he she they them his her their our your i you we has have had do does did not no will would "
    "can could may might than then so if into over about after before says said".split())


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; U.S. stays one token (``u.s``), possessives go."""
    text = (text or "").lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"'s\b", "", text)
    return _TOKEN.findall(text)


def features(title: str, body: str) -> Counter:
    """Unigram and bigram counts of headline (twice) and body; stop words only inside bigrams."""
    counts: Counter = Counter()
    for text, times in ((title or "", 2), ((body or "")[:BODY_CHARS], 1)):
        toks = tokens(text)
        for _ in range(times):
            counts.update(t for t in toks if t not in _STOP and len(t) > 1)
            counts.update(f"{a} {b}" for a, b in zip(toks, toks[1:]) if not (a in _STOP and b in _STOP))
    return counts


@dataclass
class Example:
    """One labelled item: 0 not for the digest, 1 related, 2 core."""

    title: str
    text: str
    label: int


class RelevanceModel:
    """Logistic regression over TF-IDF words and the rule score (see module doc)."""

    def __init__(self, vocabulary: dict[str, tuple[float, float]], rule_coefficients: dict[str, float],
                 intercept: float, counts: dict[str, int] | None = None, created: str = "",
                 settings: dict | None = None):
        self.vocabulary = vocabulary  # word -> (idf, coefficient)
        self.rule_coefficients = rule_coefficients  # rule-side feature -> coefficient
        self.intercept = intercept
        self.counts = counts or {}
        self.created = created
        self.settings = settings or {}

    # ------------------------------------------------------------ training --
    @classmethod
    def train(cls, examples: list[Example], rules: RelevanceScorer) -> "RelevanceModel":
        """Fit on ``examples``; needs at least one example of each class (kept / not kept)."""
        import numpy as np
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        if not examples:
            raise ValueError("no examples to learn from")
        targets = [1 if e.label >= 1 else 0 for e in examples]
        if len(set(targets)) < 2:
            raise ValueError("need examples both for the digest (label 1 or 2) and not (label 0)")
        docs = [features(e.title, e.text) for e in examples]
        df: Counter = Counter()
        for doc in docs:
            df.update(doc.keys())
        words = sorted(w for w, n in df.items() if n >= MIN_DF)
        index = {w: k for k, w in enumerate(words)}
        n = len(docs)
        idf = [_round(math.log((1 + n) / (1 + df[w])) + 1) for w in words]
        scored = [rules.score(e.title, e.text) for e in examples]
        extra_names = [RULE_FEATURE] + ([ENTITY_FEATURE.format(g.name) for g in rules.topic.entities]
                                        if ENTITY_FEATURES else [])
        extra_index = {name: len(words) + k for k, name in enumerate(extra_names)}
        rows, cols, vals = [], [], []
        norms = []
        for row, doc in enumerate(docs):
            vec = _tfidf(doc, index, idf, norms)
            for col, value in vec.items():
                rows.append(row), cols.append(col), vals.append(value)
            for name, value in _rule_features(scored[row].score, scored[row].entities).items():
                if name in extra_index:
                    rows.append(row), cols.append(extra_index[name]), vals.append(value)
        matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(words) + len(extra_names)))
        y = np.array(targets)
        weights = np.array([CORE_WEIGHT if e.label >= 2 else 1.0 for e in examples])
        weights = weights * np.where(y == 1, n / (2 * max(y.sum(), 1)), n / (2 * max(n - y.sum(), 1)))
        fit = LogisticRegression(C=C, max_iter=5000, random_state=0, solver="lbfgs")
        fit.fit(matrix, y, sample_weight=weights)
        coef = fit.coef_[0]
        vocabulary = {w: (idf[k], _round(coef[k])) for k, w in enumerate(words)}
        rule_coefficients = {name: _round(coef[col]) for name, col in extra_index.items()}
        labels = Counter(e.label for e in examples)
        counts = {"examples": n, "positive": int(y.sum()), "negative": int(n - y.sum()),
                  "core": labels.get(2, 0), "related": labels.get(1, 0), "features": len(words)}
        created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        settings = {"min_df": MIN_DF, "C": C, "core_weight": CORE_WEIGHT, "class_weight": "balanced",
                    "entity_features": ENTITY_FEATURES, "typical_norm": _round(float(np.median(norms)))}
        return cls(vocabulary, rule_coefficients, _round(fit.intercept_[0]), counts, created, settings)

    # ---------------------------------------------------------- prediction --
    def _contributions(self, title: str, body: str, rule_score: float,
                       entities: dict[str, int] | None) -> tuple[dict[str, float], dict[str, float]]:
        """Each present word's and each rule-side feature's part of the log-odds."""
        doc = features(title, body)
        present = {w: c for w, c in doc.items() if w in self.vocabulary}
        weights = {w: (1 + math.log(c)) * self.vocabulary[w][0] for w, c in present.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        contributions = {w: v / norm * self.vocabulary[w][1] for w, v in weights.items()}
        signals = {name: self.rule_coefficients[name] * value
                   for name, value in _rule_features(rule_score, entities or {}).items()
                   if name in self.rule_coefficients}
        return contributions, signals

    def predict(self, title: str, body: str, rule_score: float,
                entities: dict[str, int] | None = None) -> tuple[float, dict]:
        """Probability that an item is for the digest, and the words that moved it most.

        ``entities`` are the rule scorer's mentions per entity group
        (``Relevance.entities``); without them the model reads them as absent.
        """
        words, signals = self._contributions(title, body, rule_score, entities)
        logit = self.intercept + sum(signals.values()) + sum(words.values())
        probability = 1 / (1 + math.exp(-max(-50.0, min(50.0, logit))))
        ranked = sorted(words.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        top = {w: round(v, 3) for w, v in ranked[:EXPLAIN_WORDS] if round(v, 3)}
        return probability, {
            "probability": round(probability, 4),
            "words": top,  # word -> its push on the log-odds (+ towards the digest)
            "signals": {k: round(v, 3) for k, v in signals.items() if round(v, 3)},
            "intercept": round(self.intercept, 3),
        }

    def top_features(self, n: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The ``n`` words that most favour inclusion, and the ``n`` that most favour dropping.

        A word's strength is its push on the log-odds when mentioned once in
        an item of typical length (coefficient x idf / the training items'
        median vector norm).
        """
        scale = float(self.settings.get("typical_norm") or 1.0)
        strength = [(w, coef * idf / scale) for w, (idf, coef) in self.vocabulary.items()]
        positive = sorted((kv for kv in strength if kv[1] > 0), key=lambda kv: (-kv[1], kv[0]))[:n]
        negative = sorted((kv for kv in strength if kv[1] < 0), key=lambda kv: (kv[1], kv[0]))[:n]
        return positive, negative

    # ------------------------------------------------------------- storage --
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "created": self.created,
            "counts": self.counts,
            "settings": self.settings,
            "intercept": self.intercept,
            "rule_coefficients": self.rule_coefficients,
            "columns": ["word", "idf", "coefficient"],
            "vocabulary": [[w, idf, coef] for w, (idf, coef) in sorted(self.vocabulary.items())],
        }

    def dumps(self) -> str:
        # one vocabulary entry a line: a retrained model diffs word by word
        data = self.to_dict()
        vocabulary = data.pop("vocabulary")
        head = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True)
        rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in vocabulary)
        return head[:-2] + ',\n "vocabulary": [\n' + rows + "\n ]\n}\n"

    def save(self, path: Path) -> None:
        Path(path).write_text(self.dumps(), "utf-8")

    @classmethod
    def from_dict(cls, data: dict) -> "RelevanceModel":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a relevance model (format {data.get('format')!r}, expected {FORMAT!r})")
        vocabulary = {str(w): (float(idf), float(coef)) for w, idf, coef in data["vocabulary"]}
        rule_coefficients = {str(k): float(v) for k, v in data["rule_coefficients"].items()}
        return cls(vocabulary, rule_coefficients, float(data["intercept"]),
                   dict(data.get("counts") or {}), str(data.get("created") or ""), dict(data.get("settings") or {}))

    @classmethod
    def load(cls, path: Path) -> "RelevanceModel":
        """Read a saved model; anything else (a damaged or foreign file) is :class:`ModelUnreadable`."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            error = ModelUnreadable(f"the learned model {path} cannot be read ({reason}): run `digest learn` "
                                    "again, or `digest learn --forget` to score with the rules alone")
            error.reason = reason
            raise error from None


class ModelUnreadable(ValueError):
    """The workspace's model file is damaged or not a model: scoring cannot follow what was learned."""

    reason = ""


def _rule_features(rule_score: float, entities: dict[str, int]) -> dict[str, float]:
    """The rule scorer's view as features: its score, and how much each entity group is mentioned."""
    values = {RULE_FEATURE: rule_score}
    for name, count in entities.items():
        values[ENTITY_FEATURE.format(name)] = min(1.0, math.log1p(count) / math.log(10))
    return values


def _tfidf(doc: Counter, index: dict[str, int], idf: list[float], norms: list[float]) -> dict[int, float]:
    vec = {index[w]: (1 + math.log(c)) * idf[index[w]] for w, c in doc.items() if w in index}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    norms.append(norm)
    return {k: v / norm for k, v in vec.items()}


def blend(rule_score: float, probability: float, threshold: float) -> float:
    """The final score from the rule score and the model's probability (see LearnedScorer)."""
    damp = DAMP_FLOOR + (1 - DAMP_FLOOR) * min(1.0, probability / DOUBT)
    lift = LIFT_CEILING * threshold * math.sqrt(max(0.0, probability))
    return max(rule_score * damp, lift)


class LearnedScorer:
    """The rule score, adjusted by the learned model's probability ``p``.

    ``score = max(rule * damp, lift)``, with the profile's threshold ``t``:

    - ``lift = LIFT_CEILING * t * sqrt(p)``: an item the rules missed but the
      model likes rises towards the threshold, never to it, in the model's
      order (even odds put it at about 0.64 t). It heads the items below the
      bar in ``digest articles`` and joins the coverage of a story it belongs
      to (stories keep items above half the threshold), but never makes a
      digest story on its own.
    - ``damp = DAMP_FLOOR + (1 - DAMP_FLOOR) * min(1, p / DOUBT)``: the rule
      score stays as it is unless the model is confident the item is not
      digest news (``p < DOUBT``); then it shrinks, at most by half, so a kind
      of false positive the editors keep dropping sinks under the threshold.
    - Otherwise a rule hit keeps its score: the model never reorders what the
      rules clearly find.

    Why not let confident model-only items clear the bar, or average the two
    scores? On held-out windows, rule hits were editorial picks 21 times in
    22, items only the model rated 0.9 or more 6 in 9. Letting those clear
    the threshold, a mean or a max each cost 0.4-0.6 of the drafted stories'
    precision@k in some window (thin windows suffer most); this blend kept
    every window's drafted stories as good as the rules' while ranking the
    items far better (average precision 0.45 -> 0.72, precision of the top
    ten 0.60 -> 0.78; benchmarks/learn_holdout.py).

    The explanation keeps the rule parts and adds ``model``: the rule score
    before blending, the probability, and the words (and rule-side signals)
    that moved the model most, each with its push on the log-odds.
    """

    def __init__(self, rules: RelevanceScorer, model: RelevanceModel):
        self.rules = rules
        self.model = model
        self.topic = rules.topic

    def score(self, title: str, body: str) -> Relevance:
        rel = self.rules.score(title, body)
        if rel.preview:  # a preview or round-up is not a development, whatever the model says
            return rel
        probability, why = self.model.predict(title or "", (body or "")[:BODY_CHARS], rel.score, rel.entities)
        final = blend(rel.score, probability, self.topic.threshold)
        return Relevance(score=round(final, 4), terms=rel.terms, entities=rel.entities,
                         exclusions=rel.exclusions, model={"rule_score": rel.score, **why})
