"""``digest demo``: a fresh workspace from the bundled sample corpus, drafted.

The sample corpus (``alliance_digest/sample``) is our own writing: fictional
outlets reporting a fortnight of news, US-Japan stories among unrelated
ones. The demo is offline and takes seconds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path

MARKER = ".digest-demo"


class DemoError(Exception):
    pass


def sample_dir() -> Path:
    return Path(str(resources.files("alliance_digest").joinpath("sample")))


def sample_window() -> tuple[date, date]:
    expected = json.loads((sample_dir() / "expected.json").read_text("utf-8"))
    return date.fromisoformat(expected["window"]["start"]), date.fromisoformat(expected["window"]["end"])


def demo_profile_text() -> str:
    """The default profile with the sample outlets in place of the real feeds."""
    from alliance_digest.profile import default_profile_text

    text = default_profile_text()
    cut = text.index("# Sources: real outlets' feeds.")
    return text[:cut] + (sample_dir() / "sources.toml").read_text("utf-8")


def prepare(directory: Path) -> Path:
    directory = directory.expanduser().resolve()
    if directory.exists():
        if not (directory / MARKER).exists():
            if any(directory.iterdir()):
                raise DemoError(f"{directory}: exists and is not a demo workspace; choose another directory")
        else:
            shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by `digest demo`; re-running the demo replaces this directory\n")
    shutil.copytree(sample_dir(), directory / "sample",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py", "sources.toml"))
    return directory


def run_demo(directory: Path, echo: Callable[[str], None] = print,
             on_problem: Callable[[object], None] | None = None, pdf: bool = False) -> dict:
    from alliance_digest import workspace
    from alliance_digest.profile import PROFILE_NAME, load_profile

    home = prepare(directory)
    workspace.init(home, demo_profile_text())  # sets Django up for this workspace
    from alliance_digest import services
    from alliance_digest.render import render

    profile = load_profile(home / PROFILE_NAME)
    from alliance_digest import source_check, sources

    sources.seed_from_profile(profile)
    report = source_check.check_sources(profile)
    for outcome in report.outcomes:
        if outcome.failed and on_problem:
            on_problem(f"{outcome.name}: {outcome.error}")
    echo(report.summary())
    start, end = sample_window()
    issue, comp = services.draft_issue(profile, profile.window(start, end))
    echo(f"drafted issue {issue.key} for {start}..{end}: {len(comp.selected)} stories, "
         f"{len(comp.candidates)} candidates")
    data = services.issue_data(issue, profile)
    out = {}
    for fmt in ("md", "html", "txt", "json"):
        path = home / f"issue-{issue.volume}-{issue.number}.{fmt}"
        path.write_text(render(data, fmt), "utf-8")
        out[fmt] = path
    if pdf:
        from alliance_digest.render.pdf import PdfUnavailable, render_pdf

        try:  # the sample's image hosts are fictional: the PDF keeps the credit line only
            document, _ = render_pdf(data, load_image=None)
        except PdfUnavailable as exc:
            echo(f"no PDF: {exc}")
        else:
            out["pdf"] = home / f"issue-{issue.volume}-{issue.number}.pdf"
            out["pdf"].write_bytes(document)
    return out
