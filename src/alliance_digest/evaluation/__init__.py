"""Editorial-quality evaluations on real, labelled third-party data.

One module per stage (``extraction``, ``grouping``, ``selection``,
``summaries``); each has ``run(data_dir, **options) -> Report``. The data
lives outside the project (``../shared/data``): it is read, never copied.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


class DataMissing(Exception):
    """The evaluation data folder (or a file in it) is not there."""


@dataclass
class Report:
    """What one evaluation measured: a table for people, metrics for the gate."""

    stage: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # the figures the gate checks
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        def cell(value) -> str:
            if isinstance(value, float):
                return f"{value:.3f}"
            return str(value)

        rows = [[cell(v) for v in row] for row in self.rows]
        widths = [max(len(str(c)), *(len(r[i]) for r in rows)) if rows else len(str(c))
                  for i, c in enumerate(self.columns)]
        line = lambda vals: "  ".join(str(v).ljust(w) for v, w in zip(vals, widths)).rstrip()
        out = [f"== {self.stage} ==", line(self.columns), line("-" * w for w in widths)]
        out += [line(r) for r in rows]
        out += [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in self.metrics.items()]
        out += [f"note: {n}" for n in self.notes]
        out.append(f"({self.seconds:.1f} s)")
        return "\n".join(out)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def default_data_dir() -> Path:
    """``$DIGEST_SHARED_DATA``, else ``../shared/data`` from here or from the checkout."""
    if os.environ.get("DIGEST_SHARED_DATA"):
        return Path(os.environ["DIGEST_SHARED_DATA"])
    candidates = [Path.cwd().parent / "shared" / "data",
                  Path(__file__).resolve().parents[3].parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def require(path: Path) -> Path:
    if not path.exists():
        raise DataMissing(f"{path}: evaluation data not found (pass --data PATH or set DIGEST_SHARED_DATA)")
    return path
