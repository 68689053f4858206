"""`digest run`: one cycle reads sources, drafts on the cadence day, emails the editors; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from faulty_server import FaultyServer
from smtp_sink import SmtpSink
from test_sources import configure as configure_fetch

EDITORS = ["ed@example.org", "sub@example.org"]


def sample_workspace(directory: Path) -> Path:
    """A workspace reading the bundled sample corpus (local files), with no issue yet."""
    from alliance_digest import demo, workspace

    home = demo.prepare(directory)
    workspace.init(home, demo.demo_profile_text())
    return home


def set_keys(home: Path, **values) -> None:
    text = (home / "digest.toml").read_text("utf-8")
    for key, value in values.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
        text, n = re.subn(rf"(?m)^#? ?{key} = [^#\n]*", f"{key} = {rendered} ", text, count=1)
        assert n == 1, key
    (home / "digest.toml").write_text(text, "utf-8")


def mail_to(home: Path, port: int) -> None:
    set_keys(home, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", editors=EDITORS,
             editor_url="https://editor.example")


def test_run_once_ingests_drafts_when_the_window_is_over_and_emails_the_editors(tmp_path, cli):
    home = sample_workspace(tmp_path / "ws")
    from alliance_digest.db.models import Article, Issue, Source

    with SmtpSink() as sink:
        mail_to(home, sink.port)
        set_keys(home, first_window_end="2026-11-08")
        early = cli(home, "run", "--once", "--today", "2026-11-08")  # its last day is not over: news may still come
        assert early.exit_code == 0 and Issue.objects.count() == 0 and not sink.recorder.messages
        expected = json.loads((home / "sample" / "expected.json").read_text("utf-8"))["articles"]
        assert Source.objects.count() == 8 and Article.objects.count() == len(expected)  # ingested all the same
        assert all(s.last_success_at and s.consecutive_failures == 0 for s in Source.objects.all())  # local: health too

        result = cli(home, "run", "--once", "--today", "2026-11-09")
        assert result.exit_code == 0, result.output
        issue = Issue.objects.get()
        assert (str(issue.window_start), str(issue.window_end)) == ("2026-10-26", "2026-11-08")
        assert issue.stories.filter(selected=True).count() == 5
        [message] = sink.recorder.parsed()
        assert sorted(a.strip() for a in message["To"].split(",")) == sorted(EDITORS)
        assert message["Subject"] == "Draft ready: US-Japan Alliance Digest Vol: 1.1"
        body = message.get_content()
        assert "https://editor.example/editor/issues/1-1/" in body and "2026-10-26 to 2026-11-08" in body
        first_story = issue.stories.get(selected=True, position=1).headline
        assert f"1. {first_story}" in body
        assert "drafted issue 1.1" in result.stderr and result.stderr.rstrip().endswith("stopped")

        again = cli(home, "run", "--once", "--today", "2026-11-12")  # same window: nothing more
        assert again.exit_code == 0 and Issue.objects.count() == 1 and len(sink.recorder.messages) == 1
        assert cli(home, "run", "--once", "--today", "2026-11-22").exit_code == 0 and Issue.objects.count() == 1
        later = cli(home, "run", "--once", "--today", "2026-11-23")  # the next window ended on 22 Nov
        assert later.exit_code == 0 and len(sink.recorder.messages) == 2
        assert Issue.objects.get(number=2).window_end.isoformat() == "2026-11-22"


def test_a_draft_ready_email_that_failed_is_sent_on_the_next_cycle(tmp_path, cli):
    home = sample_workspace(tmp_path / "ws")
    from alliance_digest.db.models import Issue

    with SmtpSink() as sink:
        mail_to(home, sink.port)
        set_keys(home, first_window_end="2026-11-08", smtp_port=9)  # nothing listens on port 9
        down = cli(home, "run", "--once", "--today", "2026-11-09")
        assert down.exit_code == 0 and "could not email the editors (Draft ready" in down.stderr
        issue = Issue.objects.get()
        assert issue.editors_notified_at is None and not sink.recorder.messages  # the draft is kept, unannounced
        set_keys(home, smtp_port=sink.port)
        up = cli(home, "run", "--once", "--today", "2026-11-10")
        assert up.exit_code == 0 and Issue.objects.count() == 1
        [message] = sink.recorder.parsed()
        assert message["Subject"] == "Draft ready: US-Japan Alliance Digest Vol: 1.1"
        assert Issue.objects.get().editors_notified_at is not None
        assert cli(home, "run", "--once", "--today", "2026-11-11").exit_code == 0
        assert len(sink.recorder.messages) == 1  # told once


def test_run_tells_editors_about_paused_sources_and_survives_a_mail_failure(home, cli):
    from alliance_digest.db.models import Source

    configure_fetch(home)
    with FaultyServer() as srv, SmtpSink() as sink:
        mail_to(home, sink.port)
        set_keys(home, first_window_end="2026-12-31")  # no draft due
        Source.objects.create(name="Vanished", url=srv.url("/410"), origin="test")
        Source.objects.create(name="Fine", url=srv.url("/feed"), origin="test")
        result = cli(home, "run", "--once")
        assert result.exit_code == 0
        [message] = sink.recorder.parsed()
        assert message["Subject"] == "US-Japan Alliance Digest: 1 source(s) paused"
        assert "Vanished" in message.get_content() and "410" in message.get_content()
        assert Source.objects.get(name="Fine").last_success_at is not None
    set_keys(home, smtp_port=9)  # nothing listens there: the cycle logs it and goes on
    Source.objects.create(name="Also gone", url=srv.url("/410?again=1"), origin="test",
                          consecutive_failures=2)  # server stopped: a third failure pauses it
    result = cli(home, "run", "--once")
    assert result.exit_code == 0 and "could not email the editors" in result.stderr
    # the mail server is back: the pause not yet told is told on the next cycle, once
    with SmtpSink() as sink:
        mail_to(home, sink.port)
        assert cli(home, "run", "--once").exit_code == 0
        [message] = sink.recorder.parsed()
        assert "Also gone" in message.get_content() and "Vanished" not in message.get_content()
        assert cli(home, "run", "--once").exit_code == 0 and len(sink.recorder.messages) == 1
    from alliance_digest import sources

    gone = Source.objects.get(name="Also gone")
    assert gone.interval_minutes > 60  # backed off while failing
    sources.resume(gone)
    gone.refresh_from_db()
    assert gone.interval_minutes == 60 and gone.paused_at is None and gone.editors_told_at is None


def test_a_damaged_model_does_not_stop_the_runner_and_the_editors_hear_of_it(tmp_path, cli):
    home = sample_workspace(tmp_path / "ws")
    from alliance_digest import runner, services
    from alliance_digest.db.models import Article, Issue
    from alliance_digest.profile import load_profile

    runner._MODEL_REPORTED.clear()
    services.model_path(load_profile(home / "digest.toml")).write_text("[]", "utf-8")  # JSON, but no model
    with SmtpSink() as sink:
        mail_to(home, sink.port)
        set_keys(home, first_window_end="2026-11-08")
        result = cli(home, "run", "--once", "--today", "2026-11-09")
        assert result.exit_code == 0 and "cannot be read" in result.stderr
        assert Article.objects.count() > 0 and Issue.objects.count() == 1  # read and drafted with the rules
        subjects = [m["Subject"] for m in sink.recorder.parsed()]
        assert "US-Japan Alliance Digest: the learned relevance model cannot be read" in subjects
    item = tmp_path / "new.jsonl"
    item.write_text(json.dumps({"url": "https://x.example/1", "title": "Japan and US talk trade"}) + "\n", "utf-8")
    by_hand = cli(home, "ingest", item)
    assert by_hand.exit_code == 1 and "cannot be read" in by_hand.stderr  # by hand: the one-line reason


def test_two_drafters_at_once_make_one_issue(tmp_path, monkeypatch):
    home = sample_workspace(tmp_path / "ws")
    from alliance_digest import services
    from alliance_digest.db.models import Issue
    from alliance_digest.pipeline.compose import Window
    from alliance_digest.profile import load_profile

    profile = load_profile(home / "digest.toml")
    window = Window(date(2026, 10, 26), date(2026, 11, 8))
    real = services.compose_window

    def slow_compose(*args, **kwargs):  # while this one composes, another process drafts the window
        composition = real(*args, **kwargs)
        Issue.objects.create(volume=9, number=9, title="other", date=window.end, window_start=window.start,
                             window_end=window.end)
        return composition

    monkeypatch.setattr(services, "compose_window", slow_compose)
    with pytest.raises(services.ServiceError, match="drafted by another process at the same moment"):
        services.draft_issue(profile, window)
    assert Issue.objects.count() == 1


class Lines:
    """Lines of a subprocess's stderr, readable with a timeout."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                return False
            self.seen.append(line)
            if needle in line:
                return True
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_cleanly_on_a_signal(tmp_path, signum):
    home = sample_workspace(tmp_path / "ws")
    env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "alliance_digest", "run", "--interval", "600"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = Lines(proc.stderr)
        assert lines.wait_for("drafted issue", 60), "".join(lines.seen)  # one full cycle, now asleep
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signum)
        rc = proc.wait(timeout=10)
        took = time.monotonic() - sent
        lines.wait_for("\0", 2)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0 and took < 3, f"exit {rc} after {took:.1f} s"
    assert lines.seen[-1].rstrip().endswith("stopped")
    assert any(signal.Signals(signum).name in line for line in lines.seen)


def test_a_signal_during_a_check_lets_the_fetch_finish_then_skips_the_draft(home):
    from alliance_digest.db.models import Issue, Source

    configure_fetch(home)
    with FaultyServer() as srv:
        source = Source.objects.create(name="Slow", url=srv.url("/feed?hold=0.8"), origin="test")
        env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "alliance_digest", "run"], stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True, env=env)
        try:
            lines = Lines(proc.stderr)
            assert lines.wait_for("running", 60), "".join(lines.seen)
            deadline = time.monotonic() + 20
            while srv.max_concurrent() == 0 and time.monotonic() < deadline:  # until the request is in
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)  # the feed is being served (held 0.8 s)
            rc = proc.wait(timeout=10)
            lines.wait_for("\0", 2)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 0 and lines.seen[-1].rstrip().endswith("stopped"), "".join(lines.seen)
    source.refresh_from_db()
    assert source.last_success_at is not None, "".join(lines.seen)
    assert source.last_success_at is not None and source.etag  # the step in progress finished and was stored
    assert Issue.objects.count() == 0  # the rest of the cycle (drafting) was skipped


def test_two_runners_announce_a_draft_and_a_pause_once(home, monkeypatch):
    """A second `digest run` whose cycle comes while the first is still mailing must not mail the same news."""
    from datetime import datetime, timezone

    from alliance_digest import runner
    from alliance_digest.db.models import Issue, Source
    from alliance_digest.profile import load_profile

    set_keys(home, editors=EDITORS)
    profile = load_profile(home / "digest.toml")
    Issue.objects.create(volume=1, number=1, title="Digest", date="2026-11-08", window_start="2026-10-26",
                         window_end="2026-11-08")
    Source.objects.create(name="Gone", url="https://gone.example/feed", origin="test",
                          paused_at=datetime(2026, 11, 8, tzinfo=timezone.utc), paused_reason="410 Gone")
    told = []

    def tell(profile, report, subject, body):
        told.append(subject)
        if len(told) == 1:  # the other process's cycle, at this very moment
            runner.notify_drafts(profile, runner.CycleReport())
            runner.notify_pauses(profile, runner.CycleReport())
        return True

    monkeypatch.setattr(runner, "_tell_editors", tell)
    runner.notify_drafts(profile, runner.CycleReport())
    runner.notify_pauses(profile, runner.CycleReport())
    assert sorted(told) == ["Draft ready: US-Japan Alliance Digest Vol: 1.1",
                            "US-Japan Alliance Digest: 1 source(s) paused"]
    # a failed mail gives the claim back: the next cycle tells it
    Issue.objects.update(editors_notified_at=None)
    monkeypatch.setattr(runner, "_tell_editors", lambda *a, **k: False)
    runner.notify_drafts(profile, runner.CycleReport())
    assert Issue.objects.get().editors_notified_at is None
