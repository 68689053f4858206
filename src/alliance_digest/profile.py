"""The workspace profile (``digest.toml``): what the digest is and what it reads.

Loaded once per command into plain dataclasses; no Django here so the
pipeline and benchmarks can use it directly.
"""

from __future__ import annotations

import difflib
import re
import string

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from alliance_digest.pipeline.ranking import Weights as RankingWeights
from alliance_digest.pipeline.relevance import EntityGroup, TopicProfile

PROFILE_NAME = "digest.toml"
SOURCE_KINDS = ("feed", "page", "jsonl", "auto")


class ProfileError(ValueError):
    """The profile file is missing, unreadable or has an invalid setting."""


@dataclass
class SourceConfig:
    name: str
    url: str
    kind: str = "feed"
    authority: float = 0.5
    category: str = ""
    enabled: bool = True
    site: str = ""  # homepage, used to credit articles by host
    full_text: bool | None = None  # fetch each new item's page; None: the [fetch] full_text default


@dataclass
class EmailSettings:
    from_address: str = "Digest <digest@example.org>"
    reply_to: str = ""
    list_id: str = ""
    unsubscribe_mailto: str = ""
    backend: str = "smtp"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password_env: str = "DIGEST_SMTP_PASSWORD"
    concurrency: int = 4
    rate_per_second: float = 20.0
    max_consecutive_errors: int = 20
    confirm_hours: float = 72.0
    soft_bounce_limit: int = 3
    dkim_key: str = ""
    dkim_selector: str = ""
    dkim_domain: str = ""
    anymail: dict = field(default_factory=dict)


@dataclass
class FetchSettings:
    """``[fetch]``: how politely and safely sources are read (see pipeline/fetcher.py)."""

    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_decompressed_bytes: int = 30 * 1024 * 1024
    max_redirects: int = 5
    respect_robots: bool = True
    retries: int = 2
    max_retry_after: float = 60.0
    allow_private_addresses: bool = False
    pause_after_failures: int = 5  # consecutive failures before a source is paused (410 pauses at once)
    min_interval_minutes: int = 30  # adaptive schedule bounds for `digest run`
    max_interval_minutes: int = 1440
    full_text: bool = False  # default for feed sources: fetch each new item's page

    def policy(self, user_agent: str):
        from alliance_digest.pipeline.fetcher import FetchPolicy

        return FetchPolicy(
            user_agent=user_agent, per_host_concurrency=self.per_host_concurrency,
            per_host_delay=self.per_host_delay, connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout, total_timeout=self.total_timeout, max_bytes=self.max_bytes,
            max_decompressed_bytes=self.max_decompressed_bytes, max_redirects=self.max_redirects,
            respect_robots=self.respect_robots, retries=self.retries, max_retry_after=self.max_retry_after,
            allow_private=self.allow_private_addresses)


@dataclass
class RunSettings:
    """``[run]``: what `digest run` does besides reading sources (drafting, telling editors)."""

    editors: list[str] = field(default_factory=list)  # told when a draft is ready or a source is paused
    editor_url: str = ""  # base URL of the editors' app (default: digest.site_url)
    first_window_end: date | None = None  # sets the cadence's phase until the first issue exists


@dataclass
class Numbering:
    format: str = "Vol: {volume}.{number}"
    start_volume: int = 1
    start_number: int = 1
    issues_per_volume: int = 26

    def label(self, volume: int, number: int) -> str:
        return self.format.format(volume=volume, number=number)

    def first(self) -> tuple[int, int]:
        return (self.start_volume, self.start_number)

    def after(self, volume: int, number: int) -> tuple[int, int]:
        """The number of the issue that follows ``volume.number``."""
        if number >= self.issues_per_volume:
            return (volume + 1, 1)
        return (volume, number + 1)


ENGLISH_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December"]
# The fixed words readers see in the issue and its email, for a digest not written in English ([labels]).
DEFAULT_LABELS = {
    "headlines": "Headlines", "details": "Details", "image_source": "Image Source", "links": "Links",
    "view_in_browser": "View in your browser", "pdf": "PDF", "pdf_edition": "PDF edition",
    "subscribed": "You receive this email because you subscribed to {title}.", "unsubscribe": "Unsubscribe",
}


@dataclass
class Profile:
    title: str
    short_title: str
    cadence_days: int
    stories: int
    subject: str
    footer: str
    contact_text: str
    contact: str
    site_url: str
    user_agent_contact: str
    numbering: Numbering
    topic: TopicProfile
    ranking: RankingWeights
    grouping_threshold: float
    grouping_fold_developments: bool = True  # fold related stories of one development (see compose)
    sources: list[SourceConfig] = field(default_factory=list)
    email: EmailSettings = field(default_factory=EmailSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    run: RunSettings = field(default_factory=RunSettings)
    base_dir: Path = Path(".")
    language: str = "en"  # of the issue, its email and pages (lang attributes, the feed)
    date_format: str = "{month} {day}, {year}"  # the issue's date as readers see it
    month_names: list[str] = field(default_factory=lambda: list(ENGLISH_MONTHS))
    labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    time_zone: str = "UTC"  # IANA name: the digest's days (windows, "today") and the times editors see

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def today(self, now: datetime | None = None) -> date:
        """Today's date where the digest is made (not the server's, not UTC's)."""
        return (now or datetime.now(timezone.utc)).astimezone(self.zone).date()

    def window(self, start: date, end: date):
        """The window of days ``start``..``end`` (inclusive) in the digest's time zone."""
        from alliance_digest.pipeline.compose import Window

        return Window(start, end, self.zone)

    def format_date(self, day: date) -> str:
        """The issue's date in the profile's style ("November 8, 2026", "8. November 2026")."""
        return self.date_format.format(day=day.day, month=self.month_names[day.month - 1], year=day.year,
                                       month_number=f"{day.month:02d}", day_padded=f"{day.day:02d}")

    @property
    def user_agent(self) -> str:
        """Names the digest and where to reach its operators (sent with every request)."""
        contact = f"; +{self.user_agent_contact}" if self.user_agent_contact else ""
        return f"AllianceDigest/0.1 ({self.short_title}{contact})"

    def authority_for(self, source_name: str, url: str) -> float:
        """Authority of the outlet that published ``url`` (0.5 when unknown)."""
        host = _host(url)
        name = (source_name or "").strip().lower()
        for src in self.sources:
            if host and host in (_host(src.site), _host(src.url)) and _host(src.url) not in ("",):
                return src.authority
        for src in self.sources:
            if name and src.name.lower() == name:
                return src.authority
        return 0.5

    def owns(self, source_name: str, url: str) -> bool:
        """Whether the source called ``source_name`` is the outlet at ``url``'s host (its own article, not a copy)."""
        host = _host(url)
        name = (source_name or "").strip().lower()
        return bool(host and name) and any(
            src.name.lower() == name and host in (_host(src.site), _host(src.url)) for src in self.sources)

    def resolve(self, location: str) -> str:
        """A source location with relative paths taken from the workspace."""
        if "://" in location:
            return location
        path = Path(location).expanduser()
        return str(path if path.is_absolute() else (self.base_dir / path))


def _host(url: str) -> str:
    if not url or "://" not in url:
        return ""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def default_profile_text() -> str:
    return resources.files("alliance_digest").joinpath("default_profile.toml").read_text("utf-8")


def load_profile(path: Path) -> Profile:
    """Read and validate ``digest.toml``; raise :class:`ProfileError` with one clear line."""
    try:
        data = tomllib.loads(path.read_text("utf-8-sig"))  # a BOM from a Windows editor is fine
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile not found (run `digest init`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    return parse_profile(data, base_dir=path.parent, origin=str(path))


def _optional_bool(table: dict, key: str, where: str) -> bool | None:
    if key not in table:
        return None
    if not isinstance(table[key], bool):
        raise ProfileError(f"{where}: {key} must be true or false, got {table[key]!r}")
    return table[key]


KNOWN_SETTINGS = {
    "": {"digest", "numbering", "topic", "ranking", "grouping", "sources", "email", "fetch", "run", "database",
         "labels"},
    "database": {"url"},  # read by settings.py (before Django starts), listed here so it is known
    "digest": {"title", "short_title", "cadence_days", "stories", "subject", "footer", "contact_text", "contact",
               "site_url", "user_agent_contact", "language", "date_format", "month_names", "time_zone"},
    "labels": set(DEFAULT_LABELS),
    "numbering": {"format", "start_volume", "start_number", "issues_per_volume"},
    "topic": {"name", "entities", "terms", "exclusions", "threshold", "previews"},
    "topic.entities": {"name", "patterns", "required", "counts_as", "weight"},
    "grouping": {"threshold", "fold_developments"},
    "sources": {"name", "url", "kind", "authority", "category", "enabled", "site", "full_text"},
    "email": {"from", "reply_to", "list_id", "unsubscribe_mailto", "backend", "smtp_host", "smtp_port",
              "smtp_security", "smtp_user", "smtp_password_env", "concurrency", "rate_per_second",
              "max_consecutive_errors", "confirm_hours", "soft_bounce_limit", "dkim_key", "dkim_selector",
              "dkim_domain", "anymail"},
}
SUBJECT_FIELDS = {"title": "Digest", "volume": 1, "number": 1, "date": "1 January 2026"}


def _check_known(origin: str, where: str, table: dict, known: set[str]) -> None:
    """A setting the product does not read is a typo until proven otherwise: say which, and what was meant."""
    for key in table:
        if key not in known:
            guess = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else f" (known: {', '.join(sorted(known))})"
            place = f"[{where}]" if where else "the top level"
            raise ProfileError(f"{origin}: unknown setting {key!r} in {place}{hint}")


def _language(origin: str, digest: dict, labels_t: dict) -> dict:
    """The reader-facing language settings: ``[digest] language, date_format, month_names`` and ``[labels]``."""
    language = str(digest.get("language", "en")).strip()
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language):
        raise ProfileError(f"{origin}: digest.language must be a language tag such as \"en\" or \"de\", "
                           f"got {language!r}")
    months = digest.get("month_names", ENGLISH_MONTHS)
    if not isinstance(months, list) or len(months) != 12 or not all(isinstance(m, str) and m.strip() for m in months):
        raise ProfileError(f"{origin}: digest.month_names must list the 12 month names, January first")
    date_format = str(digest.get("date_format", "{month} {day}, {year}"))
    fields = {"day", "month", "year", "month_number", "day_padded"}
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(date_format) if name is not None]
        date_format.format(day=1, month="x", year=2026, month_number="01", day_padded="01")
        problem = ("it names nothing of the date" if not used else
                   next((f"{{{name}}} is not one of them" for name in used if name not in fields), None))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        problem = str(exc)
    if problem:
        raise ProfileError(f"{origin}: digest.date_format {date_format!r} is invalid ({problem}); it may use {{day}}, "
                           "{month}, {year}, {month_number} and {day_padded}")
    labels = dict(DEFAULT_LABELS)
    for key, value in labels_t.items():
        if not isinstance(value, str) or not value.strip():
            raise ProfileError(f"{origin}: labels.{key} must be a non-empty text, got {value!r}")
        labels[key] = value
    try:
        labels["subscribed"].format(title="Digest")
    except (KeyError, IndexError, ValueError) as exc:
        raise ProfileError(f"{origin}: labels.subscribed may use {{title}} only ({exc})") from None
    return {"language": language, "date_format": date_format, "month_names": [str(m) for m in months],
            "labels": labels}


def zone_names() -> set[str]:
    """The time zone names a profile may use: IANA "Region/City" names (and "UTC").

    Not "EST" or "Japan" (legacy aliases: "EST" is a fixed offset without
    daylight saving, not New York's time), nor "localtime" (the server's own
    zone, which the setting exists to avoid).
    """
    return {name for name in available_timezones() if "/" in name and not name.startswith(("posix/", "right/"))} | {
        "UTC"}


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError (a KeyError), ValueError for paths, OSError
        return False
    return True


def _time_zone(origin: str, digest: dict) -> str:
    """``[digest] time_zone``: an IANA name such as "America/New_York" (the digest's days and times)."""
    name = digest.get("time_zone", "UTC")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"{origin}: digest.time_zone must be a time zone name such as \"America/New_York\" "
                           f"or \"Asia/Tokyo\", got {name!r}")
    name = name.strip()
    if name == "UTC" or "/" in name and not name.startswith(("posix/", "right/", "/")) and _loads(name):
        return name  # without listing every zone on disk (a few ms at each load)
    names = zone_names()
    by_lower = {zone.lower(): zone for zone in names}
    if name.lower() in by_lower:
        hint = f"; did you mean {by_lower[name.lower()]!r}?"
    elif name in available_timezones() or name == "localtime":
        hint = ("; it is a legacy alias or abbreviation (a fixed offset, or the server's own zone): use a "
                "Region/City name")
    else:
        close = difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.75)
        hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    raise ProfileError(f"{origin}: digest.time_zone {name!r} is not a time zone name (IANA names such as "
                       f"\"America/New_York\", \"Asia/Tokyo\" or \"UTC\"){hint}")


def parse_profile(data: dict, base_dir: Path = Path("."), origin: str = "profile") -> Profile:
    _check_known(origin, "", data, KNOWN_SETTINGS[""])
    for name in ("digest", "numbering", "topic", "grouping", "email", "database", "labels"):
        if isinstance(data.get(name), dict):
            _check_known(origin, name, data[name], KNOWN_SETTINGS[name])
    if isinstance(data.get("ranking"), dict):
        _check_known(origin, "ranking", data["ranking"], set(RankingWeights.__dataclass_fields__))
    if not isinstance(data.get("digest"), dict) or not str(data["digest"].get("title", "")).strip():
        raise ProfileError(f"{origin}: [digest] title is missing: is the file complete? "
                           "(`digest init` writes a full profile to start from)")

    def section(name: str) -> dict:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ProfileError(f"{origin}: [{name}] must be a table")
        return value

    def number(table: dict, key: str, default, kind=float, minimum=None, where=""):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{origin}: {where}{key} must be a number, got {value!r}")
        if kind is int and int(value) != value:
            raise ProfileError(f"{origin}: {where}{key} must be a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ProfileError(f"{origin}: {where}{key} must be at least {minimum}, got {value!r}")
        return kind(value)

    digest = section("digest")
    numbering_t = section("numbering")
    topic_t = section("topic")
    ranking_t = section("ranking")
    grouping_t = section("grouping")

    numbering = Numbering(
        format=str(numbering_t.get("format", "Vol: {volume}.{number}")),
        start_volume=number(numbering_t, "start_volume", 1, int, 0, "numbering."),
        start_number=number(numbering_t, "start_number", 1, int, 1, "numbering."),
        issues_per_volume=number(numbering_t, "issues_per_volume", 26, int, 1, "numbering."),
    )
    try:
        numbering.label(1, 1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ProfileError(f"{origin}: numbering.format {numbering.format!r} is invalid: {exc}") from None

    entities = []
    for i, ent in enumerate(topic_t.get("entities", [])):
        if not isinstance(ent, dict) or not ent.get("name") or not isinstance(ent.get("patterns"), list):
            raise ProfileError(f"{origin}: topic.entities[{i}] needs a name and a list of patterns")
        _check_known(origin, f"topic.entities {ent['name']!r}", ent, KNOWN_SETTINGS["topic.entities"])
        if not all(isinstance(p, str) and p.strip() for p in ent["patterns"]):
            raise ProfileError(f"{origin}: topic.entities[{i}] ({ent['name']}) has an empty pattern: "
                               "it would match every article")
        weight = number(ent, "weight", 0.5, float, 0, f"topic.entities[{i}].")
        required = _optional_bool(ent, "required", f"{origin}: topic.entities[{i}] ({ent['name']})")
        counts_as = ent.get("counts_as") or None
        if counts_as is not None and not isinstance(counts_as, str):
            raise ProfileError(f"{origin}: topic.entities[{i}] ({ent['name']}): counts_as must be a group's name, "
                               f"got {counts_as!r}")
        entities.append(EntityGroup(str(ent["name"]), [str(p) for p in ent["patterns"]],
                                    bool(required), counts_as, weight))
    names = [group.name for group in entities]
    for group in entities:
        if group.counts_as and group.counts_as not in names:
            guess = difflib.get_close_matches(group.counts_as, names, n=1)
            raise ProfileError(f"{origin}: topic entity group {group.name!r} counts_as {group.counts_as!r}, "
                               "but no group has that name"
                               + (f" (did you mean {guess[0]!r}?)" if guess else f" (groups: {', '.join(names)})"))
        if group.counts_as and group.counts_as == group.name:
            raise ProfileError(f"{origin}: topic entity group {group.name!r} cannot count as itself")
    terms = topic_t.get("terms", {})
    exclusions = topic_t.get("exclusions", {})
    for label, table in (("terms", terms), ("exclusions", exclusions)):
        if not isinstance(table, dict):
            raise ProfileError(f"{origin}: topic.{label} must be a table of term = weight")
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProfileError(f"{origin}: topic.{label}.{key!r} weight must be a number, got {value!r}")
    previews = topic_t.get("previews", [])
    if not isinstance(previews, list) or not all(isinstance(p, str) and p.strip() for p in previews):
        raise ProfileError(f"{origin}: topic.previews must be a list of headline phrases, got {previews!r}")
    if not entities and not terms:
        raise ProfileError(f"{origin}: [topic] has no entities and no terms: nothing could be found relevant")
    topic = TopicProfile(
        name=str(topic_t.get("name", "topic")),
        entities=entities,
        terms={str(k): float(v) for k, v in terms.items()},
        exclusions={str(k): float(v) for k, v in exclusions.items()},
        threshold=number(topic_t, "threshold", 0.35, float, 0, "topic."),
        previews=[p.strip() for p in previews],
    )

    ranking = RankingWeights(**{
        key: number(ranking_t, key, getattr(RankingWeights, key), float, 0, "ranking.")
        for key in RankingWeights.__dataclass_fields__
    })

    sources = []
    for i, src in enumerate(data.get("sources", [])):
        if not isinstance(src, dict) or not src.get("url"):
            raise ProfileError(f"{origin}: sources[{i}] needs a url")
        _check_known(origin, f"sources {src['url']}", src, KNOWN_SETTINGS["sources"])
        kind = str(src.get("kind", "feed"))
        if kind not in SOURCE_KINDS:
            raise ProfileError(f"{origin}: sources[{i}] ({src['url']}) kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
        authority = number(src, "authority", 0.5, float, 0, f"sources[{i}].")
        if authority > 1:
            raise ProfileError(f"{origin}: sources[{i}].authority must be between 0 and 1, got {authority}")
        sources.append(SourceConfig(
            name=str(src.get("name") or src["url"]), url=str(src["url"]), kind=kind,
            authority=authority, category=str(src.get("category", "")),
            enabled=bool(src.get("enabled", True)), site=str(src.get("site", "")),
            full_text=_optional_bool(src, "full_text", f"{origin}: sources[{i}] ({src['url']})"),
        ))

    email_t = section("email")
    security = str(email_t.get("smtp_security", "starttls"))
    if security not in ("starttls", "tls", "none"):
        raise ProfileError(f"{origin}: email.smtp_security must be starttls, tls or none, got {security!r}")
    email = EmailSettings(
        from_address=str(email_t.get("from", EmailSettings.from_address)),
        reply_to=str(email_t.get("reply_to", "")), list_id=str(email_t.get("list_id", "")),
        unsubscribe_mailto=str(email_t.get("unsubscribe_mailto", "")),
        backend=str(email_t.get("backend", "smtp")), smtp_host=str(email_t.get("smtp_host", "localhost")),
        smtp_port=number(email_t, "smtp_port", 587, int, 1, "email."), smtp_security=security,
        smtp_user=str(email_t.get("smtp_user", "")),
        smtp_password_env=str(email_t.get("smtp_password_env", "DIGEST_SMTP_PASSWORD")),
        concurrency=number(email_t, "concurrency", 4, int, 1, "email."),
        rate_per_second=number(email_t, "rate_per_second", 20.0, float, 0, "email."),
        max_consecutive_errors=number(email_t, "max_consecutive_errors", 20, int, 1, "email."),
        confirm_hours=number(email_t, "confirm_hours", 72.0, float, 0, "email."),
        soft_bounce_limit=number(email_t, "soft_bounce_limit", 3, int, 1, "email."),
        dkim_key=str(email_t.get("dkim_key", "")), dkim_selector=str(email_t.get("dkim_selector", "")),
        dkim_domain=str(email_t.get("dkim_domain", "")),
        anymail=dict(email_t.get("anymail", {})) if isinstance(email_t.get("anymail", {}), dict) else {},
    )

    fetch_t = section("fetch")
    fetch_kwargs = {}
    for key, fdef in FetchSettings.__dataclass_fields__.items():
        default = fdef.default
        if key not in fetch_t:
            continue
        if isinstance(default, bool):
            if not isinstance(fetch_t[key], bool):
                raise ProfileError(f"{origin}: fetch.{key} must be true or false, got {fetch_t[key]!r}")
            fetch_kwargs[key] = fetch_t[key]
        else:
            minimum = 0 if key in ("per_host_delay", "retries", "max_retry_after") else 1
            fetch_kwargs[key] = number(fetch_t, key, default, type(default), minimum, "fetch.")
    _check_known(origin, "fetch", fetch_t, set(FetchSettings.__dataclass_fields__))
    fetch = FetchSettings(**fetch_kwargs)
    if fetch.min_interval_minutes > fetch.max_interval_minutes:
        raise ProfileError(f"{origin}: fetch.min_interval_minutes must not exceed fetch.max_interval_minutes")

    run_t = section("run")
    editors = run_t.get("editors", [])
    if not isinstance(editors, list) or not all(isinstance(e, str) and "@" in e for e in editors):
        raise ProfileError(f"{origin}: run.editors must be a list of email addresses, got {editors!r}")
    first_end = run_t.get("first_window_end") or None
    if first_end is not None and not isinstance(first_end, date):
        try:
            first_end = date.fromisoformat(str(first_end))
        except ValueError:
            raise ProfileError(f"{origin}: run.first_window_end must be a date (YYYY-MM-DD), got {first_end!r}") from None
    _check_known(origin, "run", run_t, {"editors", "editor_url", "first_window_end"})
    run = RunSettings(editors=[e.strip() for e in editors], editor_url=str(run_t.get("editor_url", "")).rstrip("/"),
                      first_window_end=first_end)

    for label, value in (("topic.threshold", topic.threshold),
                         ("grouping.threshold", grouping_t.get("threshold", 0.18))):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1:
            raise ProfileError(f"{origin}: {label} must be between 0 and 1, got {value!r}")
    subject = str(digest.get("subject", "{title} Vol {volume}.{number} — {date}"))
    try:
        subject.format(**SUBJECT_FIELDS)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ProfileError(f"{origin}: digest.subject {subject!r} is invalid ({exc.__class__.__name__}: {exc}); "
                           f"it may use {', '.join('{' + k + '}' for k in SUBJECT_FIELDS)}") from None
    return Profile(
        email=email,
        fetch=fetch,
        run=run,
        title=str(digest.get("title", "Digest")),
        short_title=str(digest.get("short_title", digest.get("title", "Digest"))),
        cadence_days=number(digest, "cadence_days", 14, int, 1, "digest."),
        stories=number(digest, "stories", 5, int, 1, "digest."),
        subject=subject,
        footer=str(digest.get("footer", "")),
        contact_text=str(digest.get("contact_text", "")),
        contact=str(digest.get("contact", "")),
        site_url=str(digest.get("site_url", "")),
        user_agent_contact=str(digest.get("user_agent_contact", digest.get("site_url", ""))),
        numbering=numbering,
        topic=topic,
        ranking=ranking,
        grouping_threshold=number(grouping_t, "threshold", 0.18, float, 0, "grouping."),
        grouping_fold_developments=_optional_bool(grouping_t, "fold_developments",
                                                  f"{origin}: [grouping]") is not False,
        sources=sources,
        base_dir=base_dir,
        **_language(origin, digest, section("labels")),
        time_zone=_time_zone(origin, digest),
    )
