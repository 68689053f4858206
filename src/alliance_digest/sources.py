"""The source registry: the database is the list of sources the digest reads.

The profile's ``[[sources]]`` seed it (matched by URL, or by name for a
profile source whose URL a permanent redirect has since changed); seeding
adds what is missing and never deletes or overwrites what editors changed.
Editors add, remove, pause and resume sources with ``digest sources`` (and
the web editor), or exchange them as OPML. Checking sources (fetching,
health, schedule) lives in :mod:`alliance_digest.source_check`.

OPML is read with lxml (already installed with trafilatura) with entity
resolution, DTD loading and network access switched off, so a hostile file
cannot expand entities or make the server fetch anything.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from django.db import transaction
from lxml import etree

from alliance_digest.db.models import Source
from alliance_digest.pipeline.fetch import local_path
from alliance_digest.pipeline.netsafety import UnresolvedHost, UnsafeURL, check_url
from alliance_digest.profile import Profile, SourceConfig

KINDS = ("feed", "page", "jsonl")
MAX_OPML_BYTES = 5 * 1024 * 1024


class SourceError(Exception):
    """A source operation that cannot be done (unknown source, unsafe URL...): one line."""


def now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- seeding ---

def seed_from_profile(profile: Profile) -> list[Source]:
    """Add the profile's sources the database lacks; return the ones added.

    A profile source is already present when a row has its URL, or when a
    profile-seeded row has its name (its URL moved after a permanent
    redirect). Existing rows are never changed, and rows are never deleted.
    """
    rows = list(Source.objects.values_list("url", "name", "origin"))
    urls = {url for url, _, _ in rows}
    profile_names = {name for _, name, origin in rows if origin == "profile"}
    added = []
    for cfg in profile.sources:
        if cfg.url in urls or cfg.name in profile_names:
            continue
        added.append(Source(
            name=cfg.name[:300], url=cfg.url, kind=cfg.kind, site=cfg.site, authority=cfg.authority,
            category=cfg.category[:100], enabled=cfg.enabled, full_text=bool(cfg.full_text), origin="profile"))
        urls.add(cfg.url)
        profile_names.add(cfg.name)
    if added:
        with transaction.atomic():
            Source.objects.bulk_create(added, ignore_conflicts=True)
    return added


def in_profile(profile: Profile, source: Source) -> bool:
    """Whether seeding would bring ``source`` back (it is listed in digest.toml)."""
    return any(cfg.url == source.url or (source.origin == "profile" and cfg.name == source.name)
               for cfg in profile.sources)


def left_by_profile(profile: Profile) -> list[Source]:
    """Sources registered from digest.toml that it no longer lists (a profile replaced by another digest's).

    Never removed automatically (their articles and history stay useful, and
    an editor may rely on one); the CLI names them so the operator decides.
    """
    return [source for source in Source.objects.filter(origin="profile", enabled=True).order_by("id")
            if not in_profile(profile, source)]


def with_db_sources(profile: Profile) -> Profile:
    """A copy of ``profile`` whose sources are the database's, then the profile's not in it.

    Ranking reads authority through :meth:`Profile.authority_for`; this makes
    sources added by editors (and authority they changed) count, while a
    workspace that never seeded its sources behaves exactly as before.
    """
    rows = list(Source.objects.order_by("id"))
    if not rows:
        return profile
    merged = [SourceConfig(name=s.name, url=s.url, kind=s.kind, authority=s.authority, category=s.category,
                           enabled=s.enabled, site=s.site) for s in rows]
    known = {s.url for s in rows}
    merged += [cfg for cfg in profile.sources if cfg.url not in known]
    clone = copy.copy(profile)
    clone.sources = merged
    return clone


# ----------------------------------------------------------------- lookup ---

def find(ref: str) -> Source:
    """A source by its id or URL; one clear error otherwise."""
    ref = (ref or "").strip()
    source = None
    if ref.isdigit():
        source = Source.objects.filter(pk=int(ref)).first()
    if source is None and ref:
        source = Source.objects.filter(url=ref).first()
    if source is None:
        raise SourceError(f"{ref!r}: no such source (give its id or URL, see `digest sources list`)")
    return source


def state(source: Source) -> str:
    """ok, failing, paused, disabled, or new (never checked)."""
    if not source.enabled:
        return "disabled"
    if source.paused_at is not None:
        return "paused"
    if source.consecutive_failures:
        return "failing"
    return "ok" if source.last_success_at else "new"


def health_summary() -> list[dict]:
    """One row per source for the editors' dashboard: worst first (paused, failing), then by name."""
    order = {"paused": 0, "failing": 1, "new": 2, "ok": 3, "disabled": 4}
    rows = []
    for s in Source.objects.all():
        rows.append({
            "id": s.id, "name": s.name, "url": s.url, "kind": s.kind, "state": state(s),
            "last_success_at": s.last_success_at, "last_attempt_at": s.last_attempt_at,
            "consecutive_failures": s.consecutive_failures, "last_error": s.last_error,
            "paused_reason": s.paused_reason, "next_check_at": s.next_check_at,
            "total_items": s.total_items,
        })
    rows.sort(key=lambda r: (order[r["state"]], r["name"].lower()))
    return rows


# ------------------------------------------------------------ editing ---

def safe_location(profile: Profile, url: str, allow_local: bool = False, notes: list[str] | None = None) -> str:
    """``url`` when it may be read: http(s) on a public address (unless the profile allows private ones).

    ``allow_local`` also accepts an existing local path or ``file://`` URL
    (the operator's own files, from the CLI; never from the web or OPML).
    A host name that does not resolve now is accepted with a line in
    ``notes``: an offline machine (or a host down for the day) must still
    be able to register sources, and the fetcher checks the address it
    connects to on every request, so nothing private is ever read.
    """
    url = (url or "").strip()
    if not url:
        raise SourceError("the URL is empty")
    if allow_local and not url.lower().startswith(("http://", "https://")) and (
            url.lower().startswith("file://") or "://" not in url):
        path = local_path(url if url.lower().startswith("file://") else profile.resolve(url))
        if path is None or not path.exists():
            raise SourceError(f"{url!r}: no such file or directory")
        return url
    try:
        return check_url(url, allow_private=profile.fetch.allow_private_addresses)
    except UnresolvedHost as exc:
        if notes is not None:
            notes.append(f"{exc}; added anyway: its address is checked each time it is read")
        return url
    except UnsafeURL as exc:
        raise SourceError(str(exc)) from None


def _address_key(url: str) -> str | None:
    """One spelling of a web address: host lower-cased and IDNA-encoded (BÜCHER.example is xn--bcher-kva.example)."""
    from alliance_digest.pipeline.urls import canonicalise

    try:
        canonical = canonicalise(url)
        parts = urlsplit(canonical)
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    netloc = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _same_address(url: str) -> Source | None:
    """A source already registered under another spelling of ``url``'s address."""
    key = _address_key(url)
    if key is None or "://" not in url or url.lower().startswith("file:"):
        return None
    return next((s for s in Source.objects.all() if "://" in s.url and _address_key(s.url) == key), None)


def add(profile: Profile, url: str, name: str = "", kind: str = "feed", authority: float = 0.5,
        full_text: bool = False, category: str = "", site: str = "", origin: str = "cli",
        allow_local: bool = False, notes: list[str] | None = None) -> Source:
    """Add a source after checking its URL is safe to fetch; refuse a duplicate URL.

    Lines worth telling the operator (a host that does not resolve now) go to ``notes``.
    """
    url = safe_location(profile, url, allow_local=allow_local, notes=notes)
    if kind not in KINDS:
        raise SourceError(f"{url}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 0 <= authority <= 1:
        raise SourceError(f"{url}: authority must be between 0 and 1, got {authority}")
    if site and not site.strip().lower().startswith(("http://", "https://")):
        raise SourceError(f"{url}: site {site!r} is not a web address (https://...)")
    existing = Source.objects.filter(url=url).first() or _same_file(profile, url) or _same_address(url)
    if existing is not None:
        raise SourceError(f"{url} is already a source (#{existing.id}, {existing.name})")
    return Source.objects.create(
        name=(name or _name_from_url(url))[:300], url=url, kind=kind, authority=authority, full_text=full_text,
        category=category[:100], site=site, origin=origin)


def _file_of(profile: Profile, url: str):
    if url.lower().startswith(("http://", "https://")):
        return None
    path = local_path(url if url.lower().startswith("file://") else profile.resolve(url))
    try:
        return path.resolve() if path is not None else None
    except OSError:
        return None


def _same_file(profile: Profile, url: str) -> Source | None:
    """A source reading the same local file or directory under another spelling (./a.xml, file:///.../a.xml)."""
    target = _file_of(profile, url)
    if target is None:
        return None
    for source in Source.objects.exclude(url__istartswith="http"):
        if _file_of(profile, source.url) == target:
            return source
    return None


def _name_from_url(url: str) -> str:
    from alliance_digest.pipeline.urls import host_of

    return host_of(url) or url


def remove(profile: Profile, source: Source) -> None:
    """Delete a source (its stored articles stay); refuse one digest.toml would bring back."""
    if in_profile(profile, source):
        raise SourceError(f"{source.url} is listed in digest.toml's [[sources]]; remove it there first "
                          f"(or `digest sources pause {source.id}` to stop reading it)")
    source.delete()


def pause(source: Source, reason: str = "paused by an editor") -> None:
    """Paused by hand: whoever did it knows, so `digest run` does not email the editors about it."""
    source.paused_at = now()
    source.paused_reason = reason
    source.editors_told_at = source.paused_at
    source.save(update_fields=["paused_at", "paused_reason", "editors_told_at", "updated_at"])


def resume(source: Source) -> None:
    """Unpause, clear the failure count and make it due at once."""
    source.paused_at = None
    source.paused_reason = ""
    source.editors_told_at = None
    source.consecutive_failures = 0
    source.next_check_at = None
    source.interval_minutes = Source._meta.get_field("interval_minutes").default  # not the failures' back-off
    source.save(update_fields=["paused_at", "paused_reason", "editors_told_at", "consecutive_failures",
                               "next_check_at", "interval_minutes", "updated_at"])


# ------------------------------------------------------------------- OPML ---

@dataclass
class OpmlReport:
    added: list[Source] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each, naming the outline
    notes: list[str] = field(default_factory=list)  # added, but worth a line (host not resolvable now)

    def summary(self) -> str:
        return f"imported {len(self.added)} source(s); {len(self.problems)} outline(s) skipped"


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def import_opml(profile: Profile, path: Path) -> OpmlReport:
    """Add every feed outline of an OPML file; skip duplicates and bad outlines with one line each.

    Raises :class:`SourceError` (one line) when the file cannot be read or
    is not OPML at all.
    """
    try:
        size = path.stat().st_size
        if size > MAX_OPML_BYTES:
            raise SourceError(f"{path}: too large for an OPML file ({size} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{path}: not valid OPML (invalid XML: {exc})") from None
    if root is None or etree.QName(root).localname.lower() != "opml" or root.find("body") is None:
        raise SourceError(f"{path}: not an OPML file (no <opml> root with a <body>)")
    report = OpmlReport()
    for number, outline in enumerate(root.find("body").iter("outline"), start=1):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        label = outline.get("text") or outline.get("title") or ""
        where = f"outline {number}" + (f" ({label!r})" if label else "")
        if not url:
            if outline.get("type", "").lower() in ("rss", "atom") or len(outline) == 0:
                report.problems.append(f"{where}: no xmlUrl; skipped")
            continue  # a folder
        kind = (outline.get("digestKind") or "feed").strip().lower()
        parent = outline.getparent()
        folder = parent.get("text", "") if parent is not None and parent.tag == "outline" else ""
        try:
            authority = float(outline.get("digestAuthority") or 0.5)
        except ValueError:
            report.problems.append(f"{where}: digestAuthority {outline.get('digestAuthority')!r} is not a number; skipped")
            continue
        notes: list[str] = []
        try:
            source = add(
                profile, url, name=label.strip() or "", kind=kind, authority=authority,
                full_text=_bool(outline.get("digestFullText")), category=(outline.get("category") or folder).strip(),
                site=(outline.get("htmlUrl") or "").strip(), origin="opml", notes=notes)
        except SourceError as exc:
            report.problems.append(f"{where}: {exc}; skipped")
            continue
        if outline.get("digestEnabled", "true").strip().lower() == "false":
            source.enabled = False
            source.save(update_fields=["enabled"])
        report.added.append(source)
        report.notes.extend(f"{where}: {note}" for note in notes)
    return report


def export_opml(out, title: str = "Digest") -> int:
    """Write every source as OPML 2.0 to a binary file object; return how many.

    Kind, authority and full-text go in ``digest*`` attributes so a round
    trip through another workspace keeps them; other readers ignore them.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{title} sources"
    etree.SubElement(head, "dateCreated").text = now().strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = etree.SubElement(root, "body")
    count = 0
    for s in Source.objects.order_by("id"):
        attrs = {"text": s.name, "title": s.name, "type": "rss" if s.kind == "feed" else "link", "xmlUrl": s.url}
        if s.site:
            attrs["htmlUrl"] = s.site
        if s.category:
            attrs["category"] = s.category
        attrs.update(digestKind=s.kind, digestAuthority=f"{s.authority:g}",
                     digestFullText="true" if s.full_text else "false",
                     digestEnabled="true" if s.enabled else "false")
        etree.SubElement(body, "outline", attrs)
        count += 1
    out.write(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return count
