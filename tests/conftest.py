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
