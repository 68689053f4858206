"""Date parsing for feeds and JSONL: ISO 8601 and RFC 822, always timezone-aware."""

from __future__ import annotations

from datetime import datetime, time, timezone
from email.utils import parsedate_to_datetime

from dateutil import parser as _dateutil


class DateError(ValueError):
    """A date string that is neither ISO 8601 nor RFC 822."""


# News is dated in this range; "9999-12-31" is a CMS's placeholder, "0001-01-01" an empty field.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
# Two different stand-ins for what a date string leaves out: if the parse depends on them,
# the string did not say (``"May"``, ``"2025"``) and the date would be invented.
_FILL_A, _FILL_B = datetime(2001, 1, 1, 0, 0, 0), datetime(2002, 2, 2, 0, 0, 0)


def parse_date(value: str) -> datetime:
    """Parse an ISO 8601 or RFC 822 date; naive results are taken as UTC, a day without a time as its noon."""
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
            parsed = _dateutil.parse(text, default=_FILL_A)
            if _dateutil.parse(text, default=_FILL_B).date() != parsed.date():
                raise DateError(f"incomplete date {value!r} (a day, month and year are needed)")
        except (ValueError, OverflowError, TypeError) as exc:
            if isinstance(exc, DateError):
                raise
            raise DateError(f"unparseable date {value!r} (expected ISO 8601 or RFC 822)") from exc
    try:
        if parsed.tzinfo is None and parsed.time() == time.min and _no_time_of_day(text):
            # a day without a time ("2026-11-09"): its middle, so it stays that day in any digest's zone
            # from UTC-11 to UTC+11 (midnight UTC is the evening before in the Americas)
            parsed = parsed.replace(hour=12)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        parsed = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise DateError(f"date {value!r} cannot be placed in time ({exc})") from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise DateError(f"date {value!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR}); a placeholder?")
    return parsed


def _no_time_of_day(text: str) -> bool:
    """Whether a date string leaves the time of day out (its parse depends on the stand-in time)."""
    try:
        return (_dateutil.parse(text, default=_FILL_A).time() != _dateutil.parse(text, default=_FILL_A.replace(
            hour=13, minute=17)).time())
    except (ValueError, OverflowError, TypeError):
        return False


def from_struct_time(value) -> datetime | None:
    """Convert feedparser's UTC ``time.struct_time`` into an aware datetime."""
    if not value:
        return None
    try:
        parsed = datetime(*value[:6], tzinfo=timezone.utc)
    except (ValueError, OverflowError, TypeError):
        return None
    return parsed if EARLIEST_YEAR <= parsed.year <= LATEST_YEAR else None
