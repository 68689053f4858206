"""Date parsing for feeds and JSONL: ISO 8601 and RFC 822, always timezone-aware."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from dateutil import parser as _dateutil


class DateError(ValueError):
    """A date string that is neither ISO 8601 nor RFC 822."""


def parse_date(value: str) -> datetime:
    """Parse an ISO 8601 or RFC 822 date; naive results are taken as UTC."""
    text = (value or "").strip()
    if not text:
        raise DateError("empty date")
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        try:
            parsed = _dateutil.parse(text)
        except (ValueError, OverflowError, TypeError) as exc:
            raise DateError(f"unparseable date {value!r} (expected ISO 8601 or RFC 822)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def from_struct_time(value) -> datetime | None:
    """Convert feedparser's UTC ``time.struct_time`` into an aware datetime."""
    if not value:
        return None
    return datetime(*value[:6], tzinfo=timezone.utc)
