"""Production set-up: private workspace files, and the web app behind a TLS proxy."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_workspace_files_are_readable_by_their_owner_only(tmp_path, cli):
    """Sessions, password hashes and subscribers live in the SQLite file: other local users must not read it."""
    home = tmp_path / "ws"
    assert cli(None, "init", str(home)).exit_code == 0
    for name in ("digest.sqlite3", "digest.toml", "secret_key"):
        assert _mode(home / name) == 0o600, name
    # a workspace made by an older version (world-readable) is tightened when next opened
    (home / "digest.sqlite3").chmod(0o644)
    assert cli(home, "issues").exit_code == 0
    assert _mode(home / "digest.sqlite3") == 0o600


_BEHIND_PROXY = textwrap.dedent("""
    import os, re, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "alliance_digest.settings"
    from alliance_digest import workspace
    workspace.setup_django(workspace.locate(None))
    from django.contrib.auth.models import User
    from django.test import Client
    if not User.objects.filter(username="ed").exists():
        User.objects.create_user("ed", password="mauve-harbour-lantern-42")
    client = Client(enforce_csrf_checks=True, HTTP_HOST="digest.example.org",
                    HTTP_X_FORWARDED_PROTO=sys.argv[1], HTTP_X_FORWARDED_FOR="203.0.113.9")
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    answer = client.post("/accounts/login/", {"username": "ed", "password": "mauve-harbour-lantern-42",
                                              "csrfmiddlewaretoken": token},
                         HTTP_ORIGIN="https://digest.example.org", HTTP_REFERER="https://digest.example.org/accounts/login/")
    print(answer.status_code, answer.get("Location", ""))
""")


def _sign_in_behind_proxy(home: Path, proto: str, **env: str) -> str:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    environ = {**environ, "DIGEST_HOME": str(home), "DIGEST_ALLOWED_HOSTS": "digest.example.org",
               "DIGEST_SECURE_COOKIES": "1", **env}
    done = subprocess.run([sys.executable, "-c", _BEHIND_PROXY, proto], env=environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_editors_can_sign_in_through_a_tls_proxy(home):
    """The README's production command: the browser's https Origin must pass Django's CSRF check."""
    assert _sign_in_behind_proxy(home, "https", DIGEST_TRUSTED_PROXIES="1").startswith("302")
    # without the proxy count, the site_url origin in digest.toml is still trusted for posts
    assert _sign_in_behind_proxy(home, "https").startswith("302")
    # an origin nobody configured is still refused
    profile = home / "digest.toml"
    profile.write_text(profile.read_text("utf-8").replace('site_url = "https://digest.example.org"',
                                                          'site_url = "https://elsewhere.example.net"'), "utf-8")
    assert _sign_in_behind_proxy(home, "http").startswith("403")
