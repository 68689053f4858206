"""The profile (digest.toml): a typo, a truncated file or a setting that cannot work is one clear line at load."""

from __future__ import annotations

import pytest


def _load(home, edit):
    from alliance_digest.profile import ProfileError, load_profile

    path = home / "digest.toml"
    path.write_text(edit(path.read_text("utf-8")), "utf-8")
    try:
        load_profile(path)
    except ProfileError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("stories = 5", "storys = 8"), "unknown setting 'storys' in [digest] (did you mean 'stories'?)"),
    (lambda t: t.replace("[ranking]", "[rankin]"), "unknown setting 'rankin' in the top level (did you mean 'ranking'?)"),
    (lambda t: t + "\n[bogus]\nx = 1\n", "unknown setting 'bogus' in the top level"),
    (lambda t: t.replace('authority = 1.0', 'authorty = 1.0', 1), "unknown setting 'authorty' in [sources"),
    (lambda t: "", "[digest] title is missing: is the file complete?"),
    (lambda t: t.replace('subject = "{title}', 'subject = "{nope} {title}'), "digest.subject"),
    (lambda t: t.replace("threshold = 0.35", "threshold = 2"), "topic.threshold must be between 0 and 1"),
    (lambda t: t.replace('subject = "{title}', 'subject = "{title.nope} {title}'), "digest.subject"),
    (lambda t: t.replace('name = "Japan"\nrequired = true\npatterns = [', 'name = "Japan"\nrequired = true\npatterns = [" ", '),
     "has an empty pattern: it would match every article"),
    (lambda t: t.replace('name = "Japan"\nrequired = true', 'name = "Japan"\nrequired = "false"'),
     "topic.entities[0] (Japan): required must be true or false, got 'false'"),
    (lambda t: t.replace('counts_as = "Japan"', 'counts_as = "Japn"', 1),
     "counts_as 'Japn', but no group has that name (did you mean 'Japan'?)"),
    (lambda t: t.replace('date_format = "{month} {day}, {year}"', 'date_format = ""'),
     "digest.date_format '' is invalid (it names nothing of the date)"),
    (lambda t: t.replace('date_format = "{month} {day}, {year}"', 'date_format = "{month.upper}"'),
     "digest.date_format '{month.upper}' is invalid ({month.upper} is not one of them)"),
    (lambda t: t.replace('language = "en"', 'language = "English!"'), "digest.language must be a language tag"),
    (lambda t: t.replace('time_zone = "UTC"', 'time_zone = "America/New_Yrok"'),
     "digest.time_zone 'America/New_Yrok' is not a time zone name (IANA names such as \"America/New_York\", "
     "\"Asia/Tokyo\" or \"UTC\"); did you mean 'America/New_York'?"),
    (lambda t: t.replace('time_zone = "UTC"', 'time_zone = "../../etc/passwd"'), "is not a time zone name"),
    (lambda t: t.replace('time_zone = "UTC"', 'time_zone = 9'), "digest.time_zone must be a time zone name"),
    (lambda t: t.replace("editors = []", "editor = []"), "unknown setting 'editor' in [run] (did you mean 'editors'?)"),
    (lambda t: t.replace("full_text = false", "fulltext = false"),
     "unknown setting 'fulltext' in [fetch] (did you mean 'full_text'?)"),
])
def test_a_profile_that_cannot_work_is_refused_with_one_line(home, edit, message):
    error = _load(home, edit)
    assert error is not None and message in error and "\n" not in error, error
    assert error.startswith(str(home / "digest.toml"))


def test_a_profile_saved_with_a_byte_order_mark_loads(home):
    assert _load(home, lambda t: "\ufeff" + t) is None


def test_a_bad_profile_stops_the_command_with_that_line(home, cli):
    (home / "digest.toml").write_text("", "utf-8")
    result = cli(home, "draft", "--start", "2026-02-01", "--end", "2026-02-28")
    assert result.exit_code != 0 and "[digest] title is missing" in result.output


def test_ordinary_mistakes_on_the_command_line_are_one_line(home, cli, tmp_path):
    cases = [
        (["render", "latest", "-o", tmp_path / "missing-dir" / "x.md"], "cannot write"),
        (["articles", "--limit", "-5"], "-5 is not in the range x>=1"),
        (["articles", "--min-score", "nan"], "--min-score must be a number"),
        (["articles", "--start", "2026-02-01", "--end", "2026-01-01"], "is after --end"),
        (["draft", "--start", "9999-12-01", "--end", "9999-12-31"], "is out of range"),
        (["draft", "--start", "2026-02-01", "--end", "2026-02-14", "--replace"], "nothing to redraft"),
    ]
    assert cli(home, "draft", "--start", "2026-01-01", "--end", "2026-01-14", "--allow-empty").exit_code == 0
    for args, message in cases:
        result = cli(home, *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    from alliance_digest.db.models import Issue

    assert Issue.objects.count() == 1  # no stray issue from --replace or a far-future window
    refused = cli(None, "init", "/proc/no-workspace-here")
    assert refused.exit_code != 0 and "cannot create a workspace there" in refused.output


def test_the_documented_database_setting_is_accepted(home):
    """README: `[database] url` names PostgreSQL; the profile check must know it (a typo in it is still caught)."""
    assert _load(home, lambda t: t + '\n[database]\nurl = "postgres://digest@localhost/digest"\n') is None
    error = _load(home, lambda t: t.replace("url = \"postgres://", "ulr = \"postgres://"))
    assert error and "unknown setting 'ulr' in [database] (did you mean 'url'?)" in error


def test_drafting_a_window_without_any_article_makes_no_empty_issue(home, cli, tmp_path):
    import json as _json

    row = {"url": "https://n.example/1", "title": "Japan and US hold talks", "published": "2026-11-03T09:00:00Z"}
    (tmp_path / "a.jsonl").write_text(_json.dumps(row) + "\n", "utf-8")
    assert cli(home, "ingest", tmp_path / "a.jsonl").exit_code == 0
    result = cli(home, "draft", "--start", "2026-12-01", "--end", "2026-12-14")
    assert result.exit_code != 0 and "no article was published in 2026-12-01..2026-12-14" in result.output
    assert "the latest stored article is from 2026-11-03" in result.output
    from alliance_digest.db.models import Issue

    assert Issue.objects.count() == 0  # no issue number used up
    wanted = cli(home, "draft", "--start", "2026-12-01", "--end", "2026-12-14", "--allow-empty")
    assert wanted.exit_code == 0 and Issue.objects.count() == 1  # asked for: an issue to fill in by hand
