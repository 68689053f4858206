"""Documentation that is generated must be current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_matches_the_commands_help():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_docs.py")], capture_output=True,
                               text=True, check=True).stdout
    assert generated == (ROOT / "docs" / "CLI.md").read_text("utf-8"), "docs/CLI.md is stale: run `make docs`"


def test_pipeline_core_does_not_import_django():
    code = ("import sys, alliance_digest.pipeline.compose, alliance_digest.pipeline.read, alliance_digest.profile; "
            "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
