"""Editors' grouping judgements, honoured when a window is drafted again.

Two kinds, both keyed by article id (the caller translates stored URLs):

- **pairs**: an editor who merged two stories said their articles report one
  story; one who split a story said the articles that left and those that
  stayed do not. The web app keeps each as article pairs
  (``learning.grouping_pairs``, latest decision per pair):
  ``{(3, 8): True}`` means articles 3 and 8 are one story (ids ascending).
- **groups**: the stories of a draft the editors have worked on, as article
  -> story. Whatever they left together is one story, whatever they left
  apart is not: a redraft places the *new* articles, it does not regroup
  what the editors have already reviewed (a new report that bridges two
  reviewed stories must not fold them into one).

A group judgement comes before a pair (it is the later, fuller view). This
module applies them to a composition, framework-free:

- :func:`split_cluster`: an event cluster holding two articles judged apart
  is cut so that no part holds such a pair; articles no judgement names go
  to the part whose terms they share most.
- :meth:`Corrections.must_join` / :meth:`Corrections.may_join`: while
  stories are folded into one per development, two stories judged one
  always fold, and no fold brings together articles judged apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

Links = Mapping[tuple[int, int], bool]


def _key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class Corrections:
    """The editors' judgements on which articles are one story; empty means the machine decides."""

    def __init__(self, pairs: Links | None = None, groups: Mapping[int, int] | None = None):
        self.pairs = dict(pairs or {})
        self.groups = dict(groups or {})

    def __bool__(self) -> bool:
        return bool(self.pairs or self.groups)

    def same(self, x: int, y: int) -> bool | None:
        """True (one story), False (different stories) or None (no judgement) for two articles."""
        if x in self.groups and y in self.groups:
            return self.groups[x] == self.groups[y]
        return self.pairs.get(_key(x, y))

    def _crosses(self, a: Iterable[int], b: Iterable[int], same: bool) -> bool:
        a, b = set(a), set(b)
        ga = {self.groups[x] for x in a if x in self.groups}
        gb = {self.groups[y] for y in b if y in self.groups}
        if ga and gb and (ga & gb if same else (len(ga | gb) > 1)):
            return True
        if len(self.pairs) < len(a) * len(b):  # whichever loop is shorter
            candidates = ((x, y) for (x, y), value in self.pairs.items() if value is same
                          and ((x in a and y in b) or (x in b and y in a)))
        else:
            candidates = ((x, y) for x in a for y in b if x != y and self.pairs.get(_key(x, y)) is same)
        return any(self.same(x, y) is same for x, y in candidates)

    def parted(self, a: Iterable[int], b: Iterable[int]) -> bool:
        """Whether some article of ``a`` and some article of ``b`` were judged different stories."""
        return self._crosses(a, b, False)

    def joined(self, a: Iterable[int], b: Iterable[int]) -> bool:
        """Whether some article of ``a`` and some article of ``b`` were judged one story."""
        return self._crosses(a, b, True)

    def must_join(self, a: Iterable[int], b: Iterable[int]) -> bool:
        a, b = list(a), list(b)
        return bool(self) and self.joined(a, b) and not self.parted(a, b)

    def may_join(self, a: Iterable[int], b: Iterable[int]) -> bool:
        return not self or not self.parted(a, b)


def split_cluster(ids: list[int], corrections: Corrections,
                  affinity: Callable[[int, list[int]], float]) -> list[list[int]]:
    """Cut one cluster (article ids) so that no part holds two articles judged apart.

    Articles some judgement names are placed first, each in the first part
    it was judged one with, else the first part it was not judged apart
    from (the editors' sides come out as parts). The others then join the
    part with the highest ``affinity(article, part)``. A cluster without
    such a pair is returned whole.
    """
    if len(ids) < 2 or not corrections or not any(
            corrections.same(a, b) is False for i, a in enumerate(ids) for b in ids[i + 1:]):
        return [list(ids)]
    named = [a for a in ids if any(corrections.same(a, b) is not None for b in ids if b != a)]
    parts: list[list[int]] = []
    for a in named:
        home = next((p for p in parts if corrections.joined([a], p) and not corrections.parted([a], p)), None)
        if home is None:
            home = next((p for p in parts if not corrections.parted([a], p)), None)
        if home is None:
            parts.append([a])
        else:
            home.append(a)
    for a in ids:
        if a not in named:
            max(parts, key=lambda p: affinity(a, p)).append(a)
    order = {a: k for k, a in enumerate(ids)}
    return [sorted(p, key=order.__getitem__) for p in parts]
