"""Quality gate: measured figures may not fall below the floors pinned in
tests/quality_floors.toml (the way trafilatura's tests/eval_gate.py works).

Runs every evaluation once on ../shared/data (skipped when absent); all of
them together take about 25 s on 2 cores.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

FLOORS_PATH = Path(__file__).with_name("quality_floors.toml")
FLOORS = tomllib.loads(FLOORS_PATH.read_text("utf-8"))
STAGES = ("extraction", "grouping", "selection", "summaries")


@pytest.fixture(scope="module")
def figures(shared_data):
    import importlib

    measured: dict[str, float] = {}
    for stage in STAGES:
        # selection runs leave-one-out: its rules-only rows are the plain
        # figures, and its learned rows check `digest learn` on unseen news
        options = {"leave_one_out": True} if stage == "selection" else {}
        module = importlib.import_module(f"alliance_digest.evaluation.{stage}")
        measured.update(module.run(shared_data, **options).metrics)
    return measured


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_figure_holds_its_floor(figures, name):
    entry = FLOORS[name]
    assert name in figures, f"{name} is pinned but no evaluation reports it"
    value = figures[name]
    if "ceiling" in entry:
        assert value <= entry["ceiling"] + 1e-9, f"{name} = {value:.4f} rose above its ceiling {entry['ceiling']}"
    else:
        assert value >= entry["floor"] - 1e-9, f"{name} = {value:.4f} fell below its floor {entry['floor']}"


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_a_floor_below_target_is_flagged_and_explained(name):
    entry = FLOORS[name]
    bound = entry.get("floor", entry.get("ceiling"))
    below = bound < entry["target"] if "floor" in entry else bound > entry["target"]
    if below:
        assert entry.get("lowered") is True and entry.get("note"), \
            f"{name}: floor {bound} misses target {entry['target']}: set lowered = true and a note"


def test_floors_are_not_lowered_silently():
    """Compared with the previous commit: a lowered floor needs `lowered = true` and a note."""
    try:
        old_text = subprocess.run(["git", "show", "HEAD~1:tests/quality_floors.toml"], cwd=FLOORS_PATH.parent,
                                  capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no previous commit of the floors to compare with")
    old = tomllib.loads(old_text)
    for name, entry in FLOORS.items():
        if name not in old or "floor" not in entry or "floor" not in old[name]:
            continue
        if entry["floor"] < old[name]["floor"]:
            assert entry.get("lowered") is True and entry.get("note"), \
                f"{name}: floor lowered from {old[name]['floor']} to {entry['floor']} without lowered = true and a note"
