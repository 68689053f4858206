"""Shared fixtures: real workspaces (SQLite files), the CLI, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DIGEST_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh workspace with the default profile, opened in this process."""
    from alliance_digest import workspace

    return workspace.init(tmp_path / "ws")


@pytest.fixture
def profile(home: Path):
    from alliance_digest.profile import load_profile

    return load_profile(home / "digest.toml")


@pytest.fixture
def cli():
    """Run ``digest`` in-process: ``cli(home, "ingest", path)`` -> click Result."""
    from alliance_digest.cli import cli as digest

    def run(home: Path | None, *args: str):
        runner = CliRunner()
        argv = (["--home", str(home)] if home else []) + [str(a) for a in args]
        return runner.invoke(digest, argv, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


EDITOR_PASSWORD = "mauve-harbour-lantern-42"


def demo_with_editor(directory: Path) -> dict:
    """The demo workspace (issue 1.1 drafted from the sample corpus) with an editor account "ed":
    ``{"home", "profile", "user", "issue", "selected", "candidates"}`` (stories in order)."""
    from alliance_digest.demo import run_demo

    home = directory / "demo"
    run_demo(home, echo=lambda m: None)
    from django.contrib.auth.models import User  # Django only after the workspace is set up

    from alliance_digest.db.models import Issue
    from alliance_digest.profile import load_profile

    issue = Issue.objects.get(volume=1, number=1)
    return {"home": home, "profile": load_profile(home / "digest.toml"),
            "user": User.objects.create_user("ed", password=EDITOR_PASSWORD, is_staff=True), "issue": issue,
            "selected": list(issue.stories.filter(selected=True).order_by("position")),
            "candidates": list(issue.stories.filter(selected=False).order_by("position"))}

