from datetime import datetime, timezone

import pytest

from alliance_digest.pipeline.dates import DateError, parse_date
from alliance_digest.pipeline.urls import canonicalise


@pytest.mark.parametrize("variant", [
    "http://www.example.com/news/story-1/",
    "https://www.example.com/news/story-1",
    "https://WWW.Example.com:443/news/story-1?utm_source=rss&utm_medium=feed",
    "https://www.example.com/news/story-1#comments",
    "https://www.example.com//news/story-1/?fbclid=abc",
])
def test_variants_of_one_article_share_a_canonical_url(variant):
    assert canonicalise(variant) == "https://www.example.com/news/story-1"


def test_content_selecting_query_parameters_are_kept_and_sorted():
    assert canonicalise("https://ex.com/article?b=2&id=7&utm_campaign=x") == "https://ex.com/article?b=2&id=7"
    assert canonicalise("https://ex.com/a?id=1") != canonicalise("https://ex.com/a?id=2")


@pytest.mark.parametrize("text, expected", [
    ("2026-10-28T09:30:00+09:00", datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)),
    ("2026-10-28T00:30:00Z", datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)),
    ("Wed, 28 Oct 2026 00:30:00 GMT", datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)),
    ("Wed, 28 Oct 2026 09:30:00 +0900", datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)),
    ("2026-10-28", datetime(2026, 10, 28, 12, tzinfo=timezone.utc)),  # a day without a time: its noon
    ("2026-10-28T00:00:00", datetime(2026, 10, 28, tzinfo=timezone.utc)),  # a time, midnight: as said
])
def test_iso_and_rfc822_dates_parse_to_utc(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "next tuesday-ish", "31/31/2026"])
def test_unparseable_dates_raise_a_clear_error(text):
    with pytest.raises(DateError):
        parse_date(text)
