"""Real third-party data from ../shared/data ingests cleanly (skipped when absent)."""

from __future__ import annotations

import gzip
import shutil

import pytest

pytestmark = pytest.mark.shared_data


def test_real_feed_snapshots_ingest_without_input_errors(home, cli, shared_data):
    feeds = shared_data / "news-feeds"
    result = cli(home, "ingest", feeds)
    assert result.exit_code == 0
    summary = result.output.strip().splitlines()[-1]
    count = len(list(feeds.glob("*.xml")))
    assert summary.startswith(f"ingested {count} input(s):")
    errors = [l for l in result.output.splitlines() if l.startswith("error:")]
    # only per-item messages may appear, never a whole feed failing
    assert all(" item " in l for l in errors), errors
    from alliance_digest.db.models import Article

    assert Article.objects.count() > 1000
    assert Article.objects.filter(published__isnull=False).count() > 0.9 * Article.objects.count()


def test_news_window_items_ingest_without_errors(home, cli, shared_data, tmp_path):
    source = next((shared_data / "news-windows").glob("items_*.jsonl.gz"))
    target = tmp_path / "items.jsonl"
    with gzip.open(source, "rb") as raw, target.open("wb") as out:
        shutil.copyfileobj(raw, out)
    lines = sum(1 for _ in target.open())
    result = cli(home, "ingest", target)
    assert result.exit_code == 0
    assert not [l for l in result.output.splitlines() if l.startswith("error:")]
    summary = result.output.strip().splitlines()[-1]
    new, duplicate = (int(summary.split(": ")[1].split()[0]), int(summary.split(", ")[1].split()[0]))
    assert new + duplicate == lines and "0 failed" in summary
