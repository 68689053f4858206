"""`[digest] time_zone`: the digest's days are its own, not UTC's or the server's.

A Washington team's issue for "26 October to 8 November" holds what was
published until midnight in Washington; `digest run` drafts once that
midnight has passed there; editors read times in their zone.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

from conftest import write

# Two reports at the edges of the window 2026-10-26..2026-11-08 in New York (UTC-4, then UTC-5 after 1 Nov):
EDGE_ITEMS = [
    # 21:30 on 8 Nov in New York: inside New York's window, the next day (9 Nov) in UTC
    {"url": "https://news.example.org/late-friday", "title": "Japan and US sign late-evening chip export pact",
     "published": "2026-11-09T02:30:00Z", "text": "Japan and the United States signed a chip export pact."},
    # 22:00 on 25 Oct in New York: before New York's window, inside UTC's
    {"url": "https://news.example.org/early-sunday", "title": "Tokyo and Washington plan alliance talks",
     "published": "2026-10-26T02:00:00Z", "text": "Tokyo and Washington plan alliance talks next month."},
]


def set_zone(home, name: str) -> None:
    path = home / "digest.toml"
    text, n = re.subn(r'(?m)^time_zone = "[^"]*"', f'time_zone = "{name}"', path.read_text("utf-8"))
    assert n == 1
    path.write_text(text, "utf-8")


def listed(cli, home) -> list[str]:
    result = cli(home, "articles", "--start", "2026-10-26", "--end", "2026-11-08")
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if "news.example" in line or "Japan" in line or "Tokyo" in line]


def test_a_windows_days_are_the_digests_days(home, cli, tmp_path):
    feed = write(tmp_path / "edge.jsonl", "\n".join(json.dumps(item) for item in EDGE_ITEMS) + "\n")
    assert cli(home, "ingest", str(feed)).exit_code == 0

    in_utc = listed(cli, home)
    assert len(in_utc) == 1 and "Tokyo and Washington plan" in in_utc[0] and "2026-10-26" in in_utc[0]

    set_zone(home, "America/New_York")
    in_new_york = listed(cli, home)
    assert len(in_new_york) == 1 and "late-evening chip export pact" in in_new_york[0]
    assert "2026-11-08" in in_new_york[0]  # the day it was published there, not 9 Nov

    result = cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08")
    assert result.exit_code == 0, result.output
    from alliance_digest.db.models import Issue

    issue = Issue.objects.get()
    urls = {a.url for s in issue.stories.all() for a in s.articles.all()}
    assert urls == {"https://news.example.org/late-friday"}


def test_today_and_the_due_window_follow_the_digests_zone(home):
    from alliance_digest import runner
    from alliance_digest.profile import load_profile

    set_zone(home, "Asia/Tokyo")
    tokyo = load_profile(home / "digest.toml")
    set_zone(home, "America/New_York")
    new_york = load_profile(home / "digest.toml")
    tokyo.run.first_window_end = new_york.run.first_window_end = date(2026, 11, 8)

    moment = datetime(2026, 11, 8, 16, 0, tzinfo=timezone.utc)  # 01:00 on 9 Nov in Tokyo, 11:00 on 8 Nov in New York
    assert tokyo.today(moment) == date(2026, 11, 9) and new_york.today(moment) == date(2026, 11, 8)
    due = runner.window_due(tokyo, tokyo.today(moment))
    assert (due.start, due.end) == (date(2026, 10, 26), date(2026, 11, 8))
    assert due.end_dt == datetime(2026, 11, 8, 15, 0, tzinfo=timezone.utc)  # midnight in Tokyo
    assert runner.window_due(new_york, new_york.today(moment)) is None  # New York's 8 November is not over


def test_editors_read_times_in_the_digests_zone(tmp_path):
    from django.test import Client
    from django.test.utils import override_settings

    from conftest import EDITOR_PASSWORD, demo_with_editor

    setup = demo_with_editor(tmp_path / "demo")
    set_zone(setup["home"], "Asia/Tokyo")
    from alliance_digest.db.models import Issue, IssueEdit

    issue = Issue.objects.get()
    IssueEdit.objects.create(issue=issue, at=datetime(2026, 11, 9, 23, 30, tzinfo=timezone.utc), username="ed",
                             action=IssueEdit.Action.DRAFTED, detail={})
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client()
        assert client.login(username="ed", password=EDITOR_PASSWORD)
        page = client.get(f"/editor/issues/{issue.volume}-{issue.number}/").content.decode()
    assert "2026-11-10 08:30:00 JST" in page  # 23:30 UTC is the next morning in Tokyo
    assert "23:30:00 UTC" not in page
