"""Benchmark: server-side render time of the draft editor (60 candidates) and a public issue page.

Median and p95 over 200 requests each, through Django's full request stack
(middleware, sessions, templates, database) on a demo workspace. Targets
(issue 5, 2 cores): editor p95 < 150 ms, public issue p95 < 50 ms. The
reference measured in the same run is the sign-in page (a plain Django form
page): each figure is also printed as a ratio to it.

    python benchmarks/web_render.py [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timings(client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            sys.exit(f"GET {path}: {response.status_code}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    # the workspace is built in another process, as `digest serve` would find
    # it: this process holds only what serving pages needs
    home = Path(tempfile.mkdtemp(prefix="digest-web-bench-")) / "demo"
    subprocess.run([sys.executable, "-m", "alliance_digest", "demo", str(home)], check=True, capture_output=True)
    from alliance_digest.workspace import open_workspace, settle_heap

    open_workspace(str(home))
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import override_settings

    from alliance_digest import delivery, publishing, services
    from alliance_digest.db.models import Story, StoryArticle
    from alliance_digest.profile import load_profile

    profile = load_profile(home / "digest.toml")
    issue = services.find_issue("latest")
    # 60 candidates: copies of the drafted candidates with their sources
    originals = list(issue.stories.filter(selected=False).prefetch_related("storyarticle_set"))
    position = len(originals)
    while issue.stories.filter(selected=False).count() < 60:
        source = originals[position % len(originals)]
        position += 1
        copy = Story.objects.create(issue=issue, selected=False, position=position, headline=source.headline,
                                    summary_markdown=source.summary_markdown, score=source.score,
                                    reasons=source.reasons, terms=source.terms)
        StoryArticle.objects.bulk_create([StoryArticle(story=copy, article_id=l.article_id, position=l.position)
                                          for l in source.storyarticle_set.all()])
    User.objects.create_user("bench", password="bench-password-123", is_staff=True)
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client()
        client.login(username="bench", password="bench-password-123")
        editor_path = f"/editor/issues/{issue.volume}-{issue.number}/"
        reference = timings(Client(), "/accounts/login/", args.requests)
        timings(client, editor_path, 3)  # warm up, then settle the heap as the servers do
        settle_heap()
        editor = timings(client, editor_path, args.requests)
        # publish a frozen copy to time the public page
        delivery.approve(profile, issue)
        publishing.publish(profile, issue)
        public = timings(Client(), f"/issues/{issue.volume}-{issue.number}/", args.requests)

    def p95(values):
        return statistics.quantiles(values, n=100)[94]

    ref = statistics.median(reference)
    print(f"candidates on the draft: {issue.stories.filter(selected=False).count()}")
    print(f"reference (sign-in page): median {ref:6.1f} ms  p95 {p95(reference):6.1f} ms")
    for name, values, target in (("draft editor", editor, 150.0), ("public issue", public, 50.0)):
        print(f"{name:<24} median {statistics.median(values):6.1f} ms  p95 {p95(values):6.1f} ms  "
              f"(target p95 < {target:.0f} ms: ratio {p95(values) / target:.2f}; "
              f"{statistics.median(values) / ref:.1f}x the reference)")
    ok = p95(editor) < 150 and p95(public) < 50
    print("PASS" if ok else "FAIL: over target")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
