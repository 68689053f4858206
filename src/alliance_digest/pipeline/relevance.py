"""Topic relevance: how likely an article is news for this digest, and why.

The score is a transparent function of the profile's entities, weighted terms
and exclusions, so an editor can see (and edit) what moved it. A pair topic
such as US-Japan needs *every* required entity group: an article about Japan
alone, or the US alone, stays low however many agenda words it has. A topic
with no required group (one subject: "the Arctic") needs *some* evidence: its
strongest entity group, or its weighted terms; an article that matches
nothing scores 0, never a free pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from alliance_digest.pipeline.records import Relevance

SCORER_VERSION = 2  # raise when the scoring changes: stored scores are then computed again (2: one-subject topics)
TITLE_WEIGHT = 2  # a match in the headline counts as this many body matches
BODY_CHARS = 6000  # beyond this the article rarely changes its subject


@dataclass
class EntityGroup:
    name: str
    patterns: list[str]
    required: bool = False
    # a group that partly stands in for a required one: US allies in Asia
    # stand in (at ``weight``) for Japan in posture and alliance-system news
    counts_as: str | None = None
    weight: float = 0.5


@dataclass
class TopicProfile:
    name: str
    entities: list[EntityGroup] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    exclusions: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.35
    # headline phrases of previews and round-ups ("Week Ahead for FX, Bonds"):
    # they name the topic without reporting a development, so they score 0
    previews: list[str] = field(default_factory=list)


def _pattern_regex(patterns: list[str]) -> re.Pattern | None:
    """One alternation for many patterns; capitals-only patterns are case-sensitive."""
    if not patterns:
        return None
    parts = []
    for pat in sorted(set(patterns), key=len, reverse=True):
        body = re.escape(pat)
        # word boundaries only where the pattern starts/ends with a word char
        left = r"(?<![\w])" if pat[:1].isalnum() else ""
        right = r"(?![\w])" if pat[-1:].isalnum() else ""
        if pat.isupper() or (pat.replace(".", "").isupper() and len(pat) <= 5):
            parts.append(f"{left}{body}{right}")
        else:
            parts.append(f"{left}(?i:{body}){right}")
    return re.compile("|".join(parts))


class RelevanceScorer:
    """Scores text against a :class:`TopicProfile` (compile once, score many)."""

    def __init__(self, topic: TopicProfile):
        self.topic = topic
        self._entities = [(g, _pattern_regex(g.patterns), {p.lower(): p for p in g.patterns}) for g in topic.entities]
        self._terms = _pattern_regex(list(topic.terms))
        self._term_keys = {t.lower(): t for t in topic.terms}
        self._excl = _pattern_regex(list(topic.exclusions))
        self._excl_keys = {t.lower(): t for t in topic.exclusions}
        self._previews = _pattern_regex(list(topic.previews))

    @staticmethod
    def _count(regex: re.Pattern | None, keys: dict[str, str], title: str, body: str) -> tuple[dict[str, int], float]:
        """Counts per pattern (title matches weighted), and a title-hit flag."""
        counts: dict[str, int] = {}
        title_hit = 0.0
        if regex is None:
            return counts, title_hit
        for text, weight in ((title, TITLE_WEIGHT), (body, 1)):
            for m in regex.finditer(text):
                key = keys.get(m.group(0).lower(), m.group(0))
                counts[key] = counts.get(key, 0) + weight
                if weight == TITLE_WEIGHT:
                    title_hit = 1.0
        return counts, title_hit

    def score(self, title: str, body: str) -> Relevance:
        body = (body or "")[:BODY_CHARS]
        title = title or ""
        preview = self._previews.search(title) if self._previews else None
        if preview:
            return Relevance(score=0.0, preview=preview.group(0))
        entity_counts: dict[str, int] = {}
        strengths: dict[str, float] = {}
        stand_ins: dict[str, float] = {}
        mentioned = 0.0  # the strongest group that is not required (the evidence of a one-subject topic)
        context = 0.0
        for group, regex, keys in self._entities:
            counts, in_title = self._count(regex, keys, title, body)
            total = sum(counts.values())
            if total:
                entity_counts[group.name] = total
            # 0 when absent; grows with mentions; a headline mention is strong
            strength = min(1.0, 0.45 * in_title + 0.35 * math.log1p(total))
            if group.required:
                strengths[group.name] = strength
                continue
            mentioned = max(mentioned, strength)
            if total:
                context = max(context, min(1.0, 0.3 * math.log1p(total)))
                if group.counts_as:
                    stand_ins[group.counts_as] = max(stand_ins.get(group.counts_as, 0.0), group.weight * strength)
        for name, value in stand_ins.items():
            if name in strengths:
                strengths[name] = max(strengths[name], value)

        term_counts, _ = self._count(self._terms, self._term_keys, title, body)
        term_mass = sum(self.topic.terms[k] * (1 + math.log(c)) for k, c in term_counts.items())
        if strengths:
            pair = min(strengths.values())
        else:  # no required group: the strongest group mentioned, or the agenda's words, must carry it
            pair = max(mentioned, min(1.0, 0.35 * math.log1p(term_mass)))
        excl_counts, _ = self._count(self._excl, self._excl_keys, title, body)
        excl_mass = sum(self.topic.exclusions[k] * (1 + math.log(c)) for k, c in excl_counts.items())

        raw = 2.2 * pair + 0.35 * term_mass * (0.25 + pair) + 0.3 * context * pair - excl_mass
        score = 1 - math.exp(-max(raw, 0.0) / 2.0)
        return Relevance(
            score=round(score, 4),
            terms=dict(sorted(term_counts.items(), key=lambda kv: -kv[1])),
            entities=entity_counts,
            exclusions=excl_counts,
        )
