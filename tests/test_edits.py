"""`digest edits` and the dashboard: how much of the machine's draft the editors kept."""

from __future__ import annotations

import json

from conftest import EDITOR_PASSWORD as PASSWORD, demo_with_editor


def _edited_and_approved(tmp_path):
    """The demo draft after an editor's work, then approved:

    - story 3 dropped, then included again (still the machine's pick);
    - stories 4 and 5 dropped for good;
    - two candidates included, the second merged into story 1;
    - story 2's headline rewritten; one story written by hand.
    """
    demo = demo_with_editor(tmp_path)
    from alliance_digest.editor import actions  # Django only after the workspace is set up

    home, profile, user, issue = demo["home"], demo["profile"], demo["user"], demo["issue"]
    sel, cand = demo["selected"], demo["candidates"]
    for story in sel[2:]:
        actions.drop(issue, story.pk, user)
    actions.include(issue, sel[2].pk, user)
    actions.include(issue, cand[0].pk, user)
    actions.include(issue, cand[1].pk, user)
    actions.merge(profile, issue, sel[0].pk, cand[1].pk, user)
    actions.edit(issue, sel[1].pk, "A headline the editor wrote", sel[1].summary_markdown, user)
    actions.write_story(issue, "Editor's note on the alliance", "Written by hand.", user)
    actions.approve(profile, issue, user)
    return home, user


def test_digest_edits_counts_what_the_editors_changed(tmp_path, cli):
    home, _ = _edited_and_approved(tmp_path)
    result = cli(home, "edits", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["issues"][0]
    # ran: stories 1, 2, 3 (the machine's), candidate 1 (included), the written story (added)
    assert {k: row[k] for k in ("issue", "stories", "machine", "included", "added", "dropped", "merged", "split",
                                "rewritten")} == {"issue": "1.1", "stories": 5, "machine": 3, "included": 1,
                                                   "added": 1, "dropped": 2, "merged": 1, "split": 0,
                                                   "rewritten": 1}
    assert row["machine_share"] == 0.6
    table = cli(home, "edits").output.splitlines()
    assert table[0].split()[:4] == ["issue", "status", "stories", "machine's"]
    assert table[1].split()[:5] == ["1.1", "approved", "5", "3", "(60%)"]
    assert table[-1].startswith("total") and "1 issue(s)" in table[-1]


def test_no_approved_issue_yet_is_said_plainly(tmp_path, cli):
    from alliance_digest.demo import run_demo

    home = tmp_path / "demo"
    run_demo(home, echo=lambda m: None)
    result = cli(home, "edits")
    assert result.exit_code == 0 and result.output.startswith("no approved issue yet")


def test_the_dashboard_says_how_much_of_the_draft_the_editors_kept(tmp_path):
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    _edited_and_approved(tmp_path)
    cache.clear()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client()
        assert client.login(username="ed", password=PASSWORD)
        page = " ".join(client.get("/editor/").content.decode().split())
    assert ("In the last 1 approved issue, 3 of the 5 stories that ran (60%) were the machine's own picks. "
            "The editors included 1 candidate, added 1 story by hand, dropped 2 of the machine's picks, "
            "merged stories 1 time, split them 0 times and rewrote 1.") in page.replace("&#x27;", "'")
