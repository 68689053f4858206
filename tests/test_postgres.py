"""PostgreSQL works through configuration alone (DIGEST_DATABASE_URL).

Starts a throw-away PostgreSQL cluster on loopback; skipped where the
server binaries (Debian's postgresql) or the postgres user are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _pg_bin()
    if not bindir or os.geteuid() != 0:
        pytest.skip("PostgreSQL server binaries (or root to run them as postgres) not available")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    data = tempfile.mkdtemp(prefix="digest-pg-")
    shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(*cmd):
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)], check=True, capture_output=True)

    as_postgres(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
    as_postgres(f"{bindir}/pg_ctl", "-D", data, "-w", "-l", f"{data}/log", "-o",
                f"'-p {port} -k {data} -c listen_addresses=127.0.0.1'", "start")
    try:
        as_postgres(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "digest")
        yield f"postgres://postgres@127.0.0.1:{port}/digest"
    finally:
        as_postgres(f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_ingest_and_draft_on_postgresql(postgres_url, tmp_path):
    from alliance_digest.demo import sample_dir

    env = dict(os.environ, DIGEST_DATABASE_URL=postgres_url, DIGEST_HOME=str(tmp_path / "ws"))
    digest = [sys.executable, "-m", "alliance_digest"]

    def run(*args):
        return subprocess.run(digest + list(args), env=env, capture_output=True, text=True, check=True).stdout

    run("init", str(tmp_path / "ws"))
    assert not (tmp_path / "ws" / "digest.sqlite3").exists()
    out = run("ingest", str(sample_dir() / "feeds"), str(sample_dir() / "pages"))
    assert "0 failed" in out
    assert "5 stories" in run("draft", "--start", "2026-10-26", "--end", "2026-11-08")
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        count = conn.execute("select count(*) from digest_article").fetchone()[0]
        selected = conn.execute("select count(*) from digest_story where selected").fetchone()[0]
    assert count == 62 and selected == 5  # the 64 sample articles less the 2 manual links
