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
    text, n = re.subn(r'(?m)^time_zone = "[^"]*"', lambda m: f'time_zone = "{name}"', path.read_text("utf-8"))
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


# Reports on the evening of 8 Nov in New York, after midnight UTC: a UTC digest's issue ending 8 Nov never had
# them; when the digest moves to New York's days, its next issue (from 9 Nov) must.
EVENING_ITEMS = [
    {"url": f"https://news.example.org/evening-{k}", "title": f"Japan and US agree on shipbuilding step {k}",
     "published": f"2026-11-09T0{k}:30:00Z", "text": f"Japan and the United States agreed on shipbuilding step {k}."}
    for k in range(1, 4)
]


def _urls(issue) -> set[str]:
    return {a.url for s in issue.stories.all() for a in s.articles.all()}


def test_moving_the_digest_to_another_zone_loses_no_report_between_two_issues(home, cli, tmp_path):
    feed = write(tmp_path / "evening.jsonl", "\n".join(json.dumps(item) for item in EDGE_ITEMS + EVENING_ITEMS))
    assert cli(home, "ingest", str(feed)).exit_code == 0
    assert cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08").exit_code == 0  # UTC days
    from alliance_digest.db.models import Issue

    first = Issue.objects.get()
    assert first.window_zone == "UTC" and not _urls(first) & {i["url"] for i in EVENING_ITEMS}

    set_zone(home, "America/New_York")
    result = cli(home, "draft", "--start", "2026-11-09", "--end", "2026-11-22")
    assert result.exit_code == 0, result.output
    second = Issue.objects.exclude(pk=first.pk).get()
    assert second.window_zone == "America/New_York"
    # on New York's days the evening reports are 8 November's, but the issue of 8 November was UTC's: they
    # open the next one instead of falling between the two
    assert {i["url"] for i in EVENING_ITEMS} <= _urls(second)

    # the first issue keeps its own days: redrafted, and in its export, it is still UTC's 26 Oct..8 Nov
    assert cli(home, "draft", "--start", "2026-10-26", "--end", "2026-11-08", "--replace").exit_code == 0
    redrafted = Issue.objects.get(pk=first.pk)
    assert _urls(redrafted) == _urls(first) and "https://news.example.org/late-friday" not in _urls(redrafted)
    exported = json.loads(cli(home, "render", redrafted.key, "--format", "json").stdout)
    assert exported["window"] == {"start": "2026-10-26", "end": "2026-11-08", "time_zone": "UTC"}


def test_a_day_without_a_time_stays_that_day_in_the_digests_zone(home, cli, tmp_path):
    set_zone(home, "America/New_York")
    items = [{"url": "https://news.example.org/dated-only", "title": "Tokyo and Washington open alliance talks",
              "published": "2026-11-09", "text": "Tokyo and Washington opened alliance talks."}]
    assert cli(home, "ingest", str(write(tmp_path / "d.jsonl", json.dumps(items[0])))).exit_code == 0
    listing = cli(home, "articles").stdout
    assert "2026-11-09" in listing and "2026-11-08" not in listing  # midnight UTC would be 8 Nov in New York


def test_a_zone_the_profile_check_accepts_never_breaks_the_server(home, cli):
    import os
    import subprocess
    import sys

    set_zone(home, "Asia/Tokyo ")  # a stray space: accepted, as the check strips it
    assert cli(home, "issues").exit_code == 0
    set_zone(home, "America/New_Yrok")  # the server starts (UTC) and its pages say what is wrong
    env = dict(os.environ, DIGEST_HOME=str(home), DJANGO_SETTINGS_MODULE="alliance_digest.settings")
    started = subprocess.run([sys.executable, "-c", "import alliance_digest.wsgi"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    result = cli(home, "issues")
    assert result.exit_code != 0 and "did you mean 'America/New_York'?" in result.output


def test_abbreviations_and_the_servers_own_zone_are_refused(home, cli):
    for name in ("EST", "localtime", "Japan"):
        set_zone(home, name)
        result = cli(home, "issues")
        assert result.exit_code != 0 and "use a Region/City name" in result.output, name
