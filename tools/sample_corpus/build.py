#!/usr/bin/env python3
"""Build the bundled sample corpus for Alliance Digest.

Reads the hand-written corpus in this folder (all outlets, events and text are
fictional) and writes the files the app and its tests use:

    src/alliance_digest/sample/feeds/<outlet>.xml     RSS 2.0 / Atom 1.0 / RSS 1.0 feeds
    src/alliance_digest/sample/pages/<outlet>/<slug>.html   full article pages
    src/alliance_digest/sample/manual.jsonl           manually added links
    src/alliance_digest/sample/expected.json          ground truth (stories, articles)

Only those four paths are deleted and recreated; nothing else in sample/ is touched.

Inputs (JSON lists):
    outlets.json   {slug, name, homepage, feed_format (rss2|atom|rss1), feed_title}
    usjapan.json   article objects (see README in the project docs / the schema below)
    other.json     non-US-Japan article objects (optional; skipped when missing)
    manual.json    article objects for manual links (outlet "embassy-bulletin")

Article object keys: id, outlet, story, us_japan, title, url, published, summary,
page (required); author, body, image, image_alt (optional, may be null); optional
extras: feed (slug of the feed the item appears in, default its outlet),
dup_of (id: same item with a tracking-parameter URL), near_dup_of (id: republished
copy of another article), lookalike_of (story id of a look-alike story).

Usage: python tools/sample_corpus/build.py [--out DIR]
Standard library only (Python 3.11+).
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
import zlib
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_OUT = ROOT / "src" / "alliance_digest" / "sample"

WINDOW_START = date(2026, 10, 26)
WINDOW_END = date(2026, 11, 8)

# Sources of manual links: not feed outlets, so they are not in outlets.json.
MANUAL_OUTLETS = {
    "embassy-bulletin": {
        "slug": "embassy-bulletin",
        "name": "US Embassy Tokyo Bulletin",
        "homepage": "https://bulletin.usembassy-tokyo.example",
        "feed_format": None,
        "feed_title": None,
    },
}

FEED_FORMATS = {"rss2", "atom", "rss1"}
REQUIRED = ("id", "outlet", "story", "us_japan", "title", "url", "published", "summary", "page")
OPTIONAL = ("author", "body", "image", "image_alt")

# Per-outlet feed details (paths on the outlet's site, image style, full text).
FEED_PATHS = {
    "pacific-courier": "/feeds/latest.rss",
    "tokyo-ledger": "/feeds/politics.atom",
    "meridian-wire": "/rss/topnews",
    "defense-horizon": "/rdf/news.rdf",
    "capitol-dispatch": "/feed/",
    "nihon-economic-review": "/rss/english.xml",
}
MEDIA_CONTENT_FEEDS = {"meridian-wire", "nihon-economic-review"}  # others use <enclosure>
FULLTEXT_FEEDS = {"capitol-dispatch"}  # non-page items with a body get content:encoded

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rss1": "http://purl.org/rss/1.0/",
    "sy": "http://purl.org/rss/1.0/modules/syndication/",
}

TZ_NAMES = {
    timedelta(hours=9): "JST",
    timedelta(hours=-10): "HST",
    timedelta(hours=-4): "EDT",
    timedelta(hours=-5): "EST",
    timedelta(0): "UTC",
}


class CorpusError(Exception):
    pass


# --------------------------------------------------------------------------- loading

def load_json(path: Path, required: bool = True):
    if not path.exists():
        if required:
            raise CorpusError(f"missing input: {path}")
        return None
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, list):
        raise CorpusError(f"{path.name}: expected a JSON list")
    return data


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def parse_dt(value) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError("no UTC offset")
    return dt


def validate(outlets: list[dict], articles: list[dict]) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    slugs = set()
    for o in outlets:
        for key in ("slug", "name", "homepage", "feed_format", "feed_title"):
            if not o.get(key):
                errors.append(f"outlet {o!r}: missing {key}")
        if o.get("feed_format") not in FEED_FORMATS:
            errors.append(f"outlet {o.get('slug')}: unknown feed_format {o.get('feed_format')!r}")
        if o.get("slug") in slugs:
            errors.append(f"outlet {o.get('slug')}: duplicate slug")
        slugs.add(o.get("slug"))
    all_outlets = {o["slug"]: o for o in outlets if o.get("slug")} | MANUAL_OUTLETS

    ids: dict[str, dict] = {}
    urls: dict[str, str] = {}
    page_files: dict[tuple[str, str], str] = {}
    stories = {a.get("story") for a in articles}
    for a in articles:
        aid = a.get("id", "<no id>")
        where = f"{a.get('_source', '?')}:{aid}"
        missing = [k for k in REQUIRED if k not in a]
        if missing:
            errors.append(f"{where}: missing keys {missing}")
            continue
        for k in OPTIONAL:
            a.setdefault(k, None)
        if aid in ids:
            errors.append(f"{where}: duplicate id")
        ids[aid] = a
        outlet = all_outlets.get(a["outlet"])
        if outlet is None:
            errors.append(f"{where}: unknown outlet {a['outlet']!r}")
            continue
        if a["_source"] == "manual.json" and a["outlet"] not in MANUAL_OUTLETS:
            errors.append(f"{where}: manual items must come from {sorted(MANUAL_OUTLETS)}")
        if a["_source"] != "manual.json" and a["outlet"] in MANUAL_OUTLETS:
            errors.append(f"{where}: outlet {a['outlet']} is only for manual.json")
        feed = a.get("feed", a["outlet"])
        if a["_source"] != "manual.json" and feed not in slugs:
            errors.append(f"{where}: feed {feed!r} is not an outlet")
        if host_of(a["url"]) != host_of(outlet["homepage"]) or urlsplit(a["url"]).scheme != "https":
            errors.append(f"{where}: URL {a['url']} does not match outlet homepage {outlet['homepage']}")
        if not a.get("dup_of"):
            if a["url"] in urls:
                errors.append(f"{where}: URL also used by {urls[a['url']]}")
            urls[a["url"]] = aid
        try:
            parse_dt(a["published"])
        except ValueError as exc:
            errors.append(f"{where}: bad published {a['published']!r} ({exc})")
        for key in ("us_japan", "page"):
            if not isinstance(a[key], bool):
                errors.append(f"{where}: {key} must be true/false")
        for key in ("title", "summary", "story"):
            if not isinstance(a[key], str) or not a[key].strip():
                errors.append(f"{where}: {key} must be a non-empty string")
        body = a["body"]
        if body is not None and (not isinstance(body, list) or not all(isinstance(p, str) and p.strip() for p in body)):
            errors.append(f"{where}: body must be null or a list of non-empty strings")
            body = None
        if a["image"] and not a["image"].startswith("https://"):
            errors.append(f"{where}: image must be an https URL")
        if a["page"]:
            if not body:
                errors.append(f"{where}: page: true needs a body")
            else:
                words = sum(len(p.split()) for p in body)
                if not 4 <= len(body) <= 8 or not 250 <= words <= 500:
                    warnings.append(f"{where}: page body has {len(body)} paragraphs / {words} words (want 4-8 / 250-500)")
            seg = urlsplit(a["url"]).path.rstrip("/").rsplit("/", 1)[-1]
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", seg):
                errors.append(f"{where}: last URL segment {seg!r} is not a safe file name")
            key = (a["outlet"], seg)
            if key in page_files:
                errors.append(f"{where}: page file {seg}.html also used by {page_files[key]}")
            page_files[key] = aid
        if a["_source"] == "manual.json" and not body:
            errors.append(f"{where}: manual items need a body (it becomes the text)")
        if a.get("lookalike_of") and a["lookalike_of"] not in stories:
            errors.append(f"{where}: lookalike_of {a['lookalike_of']!r} is not a story")
    for a in articles:
        where = f"{a.get('_source', '?')}:{a.get('id')}"
        for key in ("dup_of", "near_dup_of"):
            ref = a.get(key)
            if ref is None:
                continue
            orig = ids.get(ref)
            if orig is None:
                errors.append(f"{where}: {key} {ref!r} is not an article id")
                continue
            if orig.get("dup_of"):
                errors.append(f"{where}: {key} points at another dup")
            if orig.get("story") != a.get("story"):
                errors.append(f"{where}: {key} {ref} is in another story")
        if a.get("dup_of") and a["dup_of"] in ids:
            orig = ids[a["dup_of"]]
            parts = urlsplit(a["url"])
            if not parts.query or a["url"].split("?", 1)[0] != orig["url"]:
                errors.append(f"{where}: dup URL must be the original URL plus a query string")
            if a.get("page"):
                errors.append(f"{where}: dup items cannot have pages")
            if a.get("feed", a["outlet"]) == orig.get("feed", orig["outlet"]):
                errors.append(f"{where}: dup must appear in a different feed than its original")
    return errors, warnings


# --------------------------------------------------------------------------- helpers

def local_date(a: dict) -> date:
    return parse_dt(a["published"]).date()


def in_window(a: dict) -> bool:
    return WINDOW_START <= local_date(a) <= WINDOW_END


def sort_newest(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda a: (parse_dt(a["published"]), a["id"]), reverse=True)


def tz_name(dt: datetime) -> str:
    off = dt.utcoffset()
    if off in TZ_NAMES:
        return TZ_NAMES[off]
    return dt.strftime("UTC%z")


def ap_month(dt: datetime) -> str:
    return {1: "Jan.", 2: "Feb.", 8: "Aug.", 9: "Sept.", 10: "Oct.", 11: "Nov.", 12: "Dec."}.get(dt.month, dt.strftime("%B"))


def clock12(dt: datetime, dotted: bool) -> str:
    h = dt.hour % 12 or 12
    suffix = ("a.m." if dt.hour < 12 else "p.m.") if dotted else ("AM" if dt.hour < 12 else "PM")
    return f"{h}:{dt.minute:02d} {suffix}"


def crc(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def esc(s) -> str:
    return html.escape(s if s is not None else "", quote=True)


def text_of(a: dict) -> str:
    return "\n\n".join(a["body"] or [])


# --------------------------------------------------------------------------- feeds

def q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k.replace("__", ":"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def register(default: str | None) -> None:
    for prefix, uri in NS.items():
        if prefix in ("rss1",):
            continue
        ET.register_namespace(prefix, uri)
    if default:
        ET.register_namespace("", NS[default])


def serialize(root) -> bytes:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def feed_guid(outlet: dict, a: dict) -> str:
    host = host_of(outlet["homepage"]).removeprefix("www.")
    kind = "wire" if a["outlet"] != outlet["slug"] else "article"
    return f"urn:{host}:{kind}:{crc(a['url'].split('?', 1)[0]) % 10_000_000:07d}"


def build_rss2(outlet: dict, items: list[dict]) -> bytes:
    register(None)
    rss = ET.Element("rss", {"version": "2.0"})
    ch = sub(rss, "channel")
    sub(ch, "title", outlet["feed_title"])
    sub(ch, "link", outlet["homepage"] + "/")
    sub(ch, "description", f"Latest stories from {outlet['name']}")
    sub(ch, "language", "en-us" if not outlet["slug"].startswith("nihon") else "en")
    sub(ch, q("atom", "link"), href=outlet["homepage"] + FEED_PATHS.get(outlet["slug"], "/feed.xml"),
        rel="self", type="application/rss+xml")
    if items:
        sub(ch, "lastBuildDate", format_datetime(parse_dt(items[0]["published"])))
    sub(ch, "ttl", "15")
    for a in items:
        it = sub(ch, "item")
        sub(it, "title", a["title"])
        sub(it, "link", a["url"])
        sub(it, "guid", feed_guid(outlet, a), isPermaLink="false")
        sub(it, "pubDate", format_datetime(parse_dt(a["published"])))
        if a["author"]:
            sub(it, q("dc", "creator"), a["author"])
        sub(it, "description", a["summary"])
        if a["body"] and not a["page"] and outlet["slug"] in FULLTEXT_FEEDS:
            sub(it, q("content", "encoded"), "".join(f"<p>{esc(p)}</p>" for p in a["body"]))
        if a["image"]:
            if outlet["slug"] in MEDIA_CONTENT_FEEDS:
                mc = sub(it, q("media", "content"), url=a["image"], medium="image", type="image/jpeg")
                # no media:description: feedparser would surface it as entry content
                sub(mc, q("media", "credit"), STYLES.get(outlet["slug"], DEFAULT_STYLE)["credit"])
            else:
                sub(it, "enclosure", url=a["image"], type="image/jpeg",
                    length=str(60_000 + crc(a["image"]) % 400_000))
    return serialize(rss)


def build_atom(outlet: dict, items: list[dict]) -> bytes:
    register("atom")
    host = host_of(outlet["homepage"]).removeprefix("www.")
    feed = ET.Element(q("atom", "feed"), {"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    sub(feed, q("atom", "id"), f"tag:{host},2020:feeds/politics")
    sub(feed, q("atom", "title"), outlet["feed_title"])
    sub(feed, q("atom", "subtitle"), f"Politics and diplomacy from {outlet['name']}")
    sub(feed, q("atom", "link"), rel="alternate", type="text/html", href=outlet["homepage"] + "/")
    sub(feed, q("atom", "link"), rel="self", type="application/atom+xml",
        href=outlet["homepage"] + FEED_PATHS.get(outlet["slug"], "/feed.atom"))
    if items:
        sub(feed, q("atom", "updated"), parse_dt(items[0]["published"]).isoformat())
    au = sub(feed, q("atom", "author"))
    sub(au, q("atom", "name"), outlet["name"])
    for a in items:
        dt = parse_dt(a["published"])
        en = sub(feed, q("atom", "entry"))
        sub(en, q("atom", "id"), f"tag:{host},{dt:%Y-%m-%d}:{urlsplit(a['url']).path}")
        sub(en, q("atom", "title"), a["title"], type="text")
        sub(en, q("atom", "link"), rel="alternate", type="text/html", href=a["url"])
        sub(en, q("atom", "published"), dt.isoformat())
        sub(en, q("atom", "updated"), dt.isoformat())
        if a["author"]:
            au = sub(en, q("atom", "author"))
            sub(au, q("atom", "name"), a["author"])
        sub(en, q("atom", "summary"), a["summary"], type="text")
        if a["image"]:
            sub(en, q("atom", "link"), rel="enclosure", type="image/jpeg", href=a["image"],
                title=a["image_alt"] or "")
    return serialize(feed)


def build_rss1(outlet: dict, items: list[dict]) -> bytes:
    register("rss1")
    feed_url = outlet["homepage"] + FEED_PATHS.get(outlet["slug"], "/index.rdf")
    rdf = ET.Element(q("rdf", "RDF"))
    ch = sub(rdf, q("rss1", "channel"), **{"{%s}about" % NS["rdf"]: feed_url})
    sub(ch, q("rss1", "title"), outlet["feed_title"])
    sub(ch, q("rss1", "link"), outlet["homepage"] + "/")
    sub(ch, q("rss1", "description"), f"News and analysis from {outlet['name']}")
    sub(ch, q("dc", "language"), "en-us")
    sub(ch, q("dc", "publisher"), outlet["name"])
    if items:
        sub(ch, q("dc", "date"), parse_dt(items[0]["published"]).isoformat())
    sub(ch, q("sy", "updatePeriod"), "hourly")
    seq = sub(sub(ch, q("rss1", "items")), q("rdf", "Seq"))
    for a in items:
        sub(seq, q("rdf", "li"), **{"{%s}resource" % NS["rdf"]: a["url"]})
    for a in items:
        it = sub(rdf, q("rss1", "item"), **{"{%s}about" % NS["rdf"]: a["url"]})
        sub(it, q("rss1", "title"), a["title"])
        sub(it, q("rss1", "link"), a["url"])
        sub(it, q("rss1", "description"), a["summary"])
        sub(it, q("dc", "date"), parse_dt(a["published"]).isoformat())
        if a["author"]:
            sub(it, q("dc", "creator"), a["author"])
        sub(it, q("dc", "publisher"), outlet["name"])
    return serialize(rdf)


FEED_BUILDERS = {"rss2": build_rss2, "atom": build_atom, "rss1": build_rss1}


# --------------------------------------------------------------------------- pages

STYLES = {
    "pacific-courier": {
        "layout": "classic", "prefix": "pc", "lang": "en-US",
        "nav": ["Hawaii", "Nation", "World", "Military", "Business", "Opinion", "Sports"],
        "tagline": "Honolulu's independent daily since 1921",
        "cookie": "We use cookies to personalize content and ads and to analyze our traffic. By continuing to use this site you agree to our use of cookies.",
        "newsletter": ("The Morning Courier", "Get the day's top Hawaii and Pacific stories in your inbox every weekday at 6 a.m."),
        "date": lambda d: f"{ap_month(d)} {d.day}, {d.year}, {clock12(d, True)} {tz_name(d)}",
        "credit": "Courier file photo",
        "related": "Related stories",
    },
    "tokyo-ledger": {
        "layout": "two-column", "prefix": "tl", "lang": "en",
        "nav": ["Politics", "Diplomacy", "Economy", "Society", "Science", "Culture", "Opinion"],
        "tagline": "Japan's news in English",
        "cookie": "This website uses cookies to improve your experience. You can change your cookie settings at any time.",
        "newsletter": ("Ledger Daily Briefing", "A free digest of the most important news from Japan, delivered every evening."),
        "date": lambda d: f"{d:%Y/%m/%d %H:%M} {tz_name(d)}",
        "credit": "Tokyo Ledger",
        "related": "Related stories",
        "jsonld": True,
    },
    "meridian-wire": {
        "layout": "wire", "prefix": "mw", "lang": "en",
        "nav": ["World", "Business", "Markets", "Politics", "Technology", "Energy", "Asia"],
        "tagline": "Independent global news agency",
        "cookie": "Meridian Wire and its partners use cookies and similar technologies. Select Accept to consent or Manage to review your choices.",
        "newsletter": ("Meridian Daily", "Our editors' pick of the stories that matter, every morning."),
        "date": lambda d: f"{d:%B} {d.day}, {d.year} {clock12(d, False)} {tz_name(d)}",
        "credit": "Meridian Wire",
        "related": "Related stories",
    },
    "defense-horizon": {
        "layout": "wire", "prefix": "dh", "lang": "en-US",
        "nav": ["Air", "Land", "Naval", "Space", "Cyber", "Budget", "Indo-Pacific"],
        "tagline": "Defense news and analysis",
        "cookie": "We use cookies for analytics and advertising. Read our privacy policy to learn more.",
        "newsletter": ("Horizon Brief", "Daily defense news for professionals. Sign up free."),
        "date": lambda d: f"{d:%b} {d.day}, {d.year} at {clock12(d, False)} {tz_name(d)}",
        "credit": "US Navy / Defense Horizon",
        "related": "Related stories",
    },
    "capitol-dispatch": {
        "layout": "classic", "prefix": "cd", "lang": "en-US",
        "nav": ["Congress", "White House", "Trade", "Defense", "Technology", "Campaigns", "Newsletters"],
        "tagline": "Policy and politics from the Hill",
        "cookie": "Capitol Dispatch uses cookies to understand how you use our site and to improve your experience.",
        "newsletter": ("Dispatch AM", "The essential Washington briefing, before the first vote of the day."),
        "date": lambda d: f"{d:%A}, {d:%B} {d.day}, {d.year}",
        "credit": "Capitol Dispatch",
        "related": "Related stories",
        "ads": True,
    },
    "nihon-economic-review": {
        "layout": "two-column", "prefix": "ner", "lang": "en",
        "nav": ["Markets", "Companies", "Economy", "Tech", "Politics", "Asia", "Opinion"],
        "tagline": "Business news from Japan and Asia",
        "cookie": "We use cookies to provide our services and for analytics and marketing. Manage your preferences in Cookie Settings.",
        "newsletter": ("NER Morning Markets", "Pre-market briefing on Japanese stocks, the yen and corporate news."),
        "date": lambda d: f"{d:%B} {d.day}, {d.year} {d:%H:%M} {tz_name(d)}",
        "credit": "NER",
        "related": "Related stories",
        "jsonld": True,
    },
}
DEFAULT_STYLE = STYLES["meridian-wire"]


def related_for(a: dict, pool: list[dict]) -> list[dict]:
    me = parse_dt(a["published"])
    cands = [b for b in pool if b["id"] != a["id"] and not b.get("dup_of")]
    cands.sort(key=lambda b: (b["story"] == a["story"], abs((parse_dt(b["published"]) - me).total_seconds()), b["id"]))
    return cands[:3]


def byline_html(a: dict, outlets: dict, style: dict) -> str:
    if not a["author"]:
        return ""
    p = style["prefix"]
    org = ""
    if a.get("near_dup_of") and a.get("_orig_outlet") and a["_orig_outlet"] != a["outlet"]:
        org = f', <span class="{p}-byline__org">{esc(outlets[a["_orig_outlet"]]["name"])}</span>'
    return (f'<p class="{p}-byline">By <a rel="author" class="{p}-byline__name" href="'
            f'{esc(outlets[a["outlet"]]["homepage"])}/staff/{esc(re.sub(r"[^a-z]+", "-", a["author"].lower()))}">'
            f"{esc(a['author'])}</a>{org}</p>")


def figure_html(a: dict, style: dict) -> str:
    if not a["image"]:
        return ""
    p = style["prefix"]
    alt = a["image_alt"] or ""
    return (f'<figure class="{p}-figure">\n'
            f'  <img src="{esc(a["image"])}" alt="{esc(alt)}" width="1200" height="675" loading="eager">\n'
            f'  <figcaption class="{p}-figure__caption">{esc(alt)} '
            f'<span class="{p}-figure__credit">({esc(style["credit"])})</span></figcaption>\n'
            f"</figure>")


def body_html(a: dict, style: dict) -> str:
    p = style["prefix"]
    out = []
    for i, para in enumerate(a["body"]):
        out.append(f"<p>{esc(para)}</p>")
        if style.get("ads") and i == 1 and len(a["body"]) > 3:
            out.append(f'<div class="{p}-ad ad-slot" aria-hidden="true" data-ad-unit="inline-1"></div>')
    return "\n".join(out)


def render_page(a: dict, outlets: dict, pool: list[dict]) -> str:
    outlet = outlets[a["outlet"]]
    style = STYLES.get(a["outlet"], DEFAULT_STYLE)
    p = style["prefix"]
    home = outlet["homepage"]
    dt = parse_dt(a["published"])
    shown = style["date"](dt)
    nav = "\n".join(f'      <li><a href="{home}/{esc(n.lower().replace(" ", "-"))}/">{esc(n)}</a></li>' for n in style["nav"])
    rel = related_for(a, pool)
    rel_items = "\n".join(f'      <li><a href="{esc(b["url"])}">{esc(b["title"])}</a></li>' for b in rel)
    while len(rel) < 3:  # pad when an outlet has few articles
        rel.append(None)
        rel_items += f'\n      <li><a href="{home}/latest/">More from {esc(outlet["name"])}</a></li>'
    nl_title, nl_text = style["newsletter"]
    og_image = f'\n  <meta property="og:image" content="{esc(a["image"])}">' if a["image"] else ""
    og_image_alt = f'\n  <meta property="og:image:alt" content="{esc(a["image_alt"])}">' if a["image"] and a["image_alt"] else ""
    author_meta = f'\n  <meta name="author" content="{esc(a["author"])}">' if a["author"] else ""
    jsonld = ""
    if style.get("jsonld"):
        ld = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "headline": a["title"], "description": a["summary"], "url": a["url"],
            "mainEntityOfPage": a["url"], "datePublished": a["published"], "dateModified": a["published"],
            "publisher": {"@type": "Organization", "name": outlet["name"],
                          "logo": {"@type": "ImageObject", "url": f"{home}/static/logo.png"}},
        }
        if a["author"]:
            ld["author"] = [{"@type": "Person", "name": a["author"]}]
        if a["image"]:
            ld["image"] = [a["image"]]
        ld_text = json.dumps(ld, ensure_ascii=False, indent=2).replace("</", "<\\/")
        jsonld = f'\n  <script type="application/ld+json">\n{ld_text}\n  </script>'
    head = f"""<!DOCTYPE html>
<html lang="{style['lang']}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{esc(a['title'])} | {esc(outlet['name'])}</title>
  <link rel="canonical" href="{esc(a['url'])}">
  <meta name="description" content="{esc(a['summary'])}">{author_meta}
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="{esc(outlet['name'])}">
  <meta property="og:title" content="{esc(a['title'])}">
  <meta property="og:description" content="{esc(a['summary'])}">
  <meta property="og:url" content="{esc(a['url'])}">{og_image}{og_image_alt}
  <meta property="article:published_time" content="{esc(a['published'])}">
  <meta property="article:modified_time" content="{esc(a['published'])}">
  <meta name="twitter:card" content="summary_large_image">
  <link rel="stylesheet" href="{home}/static/css/site.css">
  <link rel="icon" href="{home}/favicon.ico">{jsonld}
</head>"""
    cookie = f"""  <div id="{p}-cookie-consent" class="cookie-banner {p}-cookie" role="dialog" aria-label="Cookie consent">
    <p>{esc(style['cookie'])} <a href="{home}/privacy/">Privacy policy</a></p>
    <button type="button" class="{p}-cookie__accept">Accept all</button>
    <button type="button" class="{p}-cookie__manage">Manage settings</button>
  </div>"""
    header = f"""  <header class="{p}-header site-header">
    <div class="{p}-header__brand"><a href="{home}/" class="{p}-logo">{esc(outlet['name'])}</a>
      <span class="{p}-tagline">{esc(style['tagline'])}</span></div>
    <nav class="{p}-nav" aria-label="Main menu">
    <ul>
{nav}
    </ul>
    </nav>
    <div class="{p}-header__tools"><a href="{home}/search/">Search</a> <a href="{home}/subscribe/">Subscribe</a> <a href="{home}/login/">Sign in</a></div>
  </header>"""
    byline = byline_html(a, outlets, style)
    time_el = f'<time class="{p}-date" datetime="{esc(a["published"])}">{esc(shown)}</time>'
    figure = figure_html(a, style)
    body = body_html(a, style)
    related = f"""  <aside class="{p}-related related-stories" aria-labelledby="{p}-related-title">
    <h2 id="{p}-related-title">{esc(style['related'])}</h2>
    <ul>
{rel_items}
    </ul>
  </aside>"""
    newsletter = f"""  <section class="{p}-newsletter newsletter-signup" aria-label="Newsletter">
    <h2>{esc(nl_title)}</h2>
    <p>{esc(nl_text)}</p>
    <form action="{home}/newsletters/subscribe" method="post">
      <label for="{p}-nl-email">Email address</label>
      <input id="{p}-nl-email" type="email" name="email" placeholder="you@example.com" required>
      <button type="submit">Sign up</button>
    </form>
  </section>"""
    footer = f"""  <footer class="{p}-footer site-footer">
    <ul class="{p}-footer__links">
      <li><a href="{home}/about/">About us</a></li>
      <li><a href="{home}/contact/">Contact</a></li>
      <li><a href="{home}/privacy/">Privacy policy</a></li>
      <li><a href="{home}/terms/">Terms of use</a></li>
      <li><a href="{home}{FEED_PATHS.get(a['outlet'], '/feed.xml')}">RSS</a></li>
    </ul>
    <p class="{p}-copyright">&copy; {dt.year} {esc(outlet['name'])}. All rights reserved.</p>
  </footer>"""
    layout = style["layout"]
    if layout == "classic":
        main = f"""  <main id="main-content" class="{p}-main">
  <article class="{p}-story">
    <header class="{p}-story__header">
      <p class="{p}-section"><a href="{home}/{esc(style['nav'][0].lower())}/">{esc(style['nav'][0])}</a></p>
      <h1 class="{p}-headline">{esc(a['title'])}</h1>
      {byline}
      <p class="{p}-dateline">Published {time_el}</p>
    </header>
    {figure}
    <div class="{p}-story__body article-body">
{body}
    </div>
  </article>
{related}
  </main>
{newsletter}"""
    elif layout == "two-column":
        main = f"""  <nav class="{p}-breadcrumb" aria-label="Breadcrumb"><a href="{home}/">Home</a> &rsaquo; <a href="{home}/{esc(style['nav'][0].lower())}/">{esc(style['nav'][0])}</a></nav>
  <div class="{p}-layout">
    <main class="{p}-layout__main">
    <article class="{p}-article" itemscope itemtype="https://schema.org/NewsArticle">
      <h1 class="{p}-article__title" itemprop="headline">{esc(a['title'])}</h1>
      <div class="{p}-article__meta">
        {byline}
        {time_el}
      </div>
      {figure}
      <div class="{p}-article__body" itemprop="articleBody">
{body}
      </div>
    </article>
    </main>
    <div class="{p}-layout__side">
{related}
{newsletter}
    </div>
  </div>"""
    else:  # wire / magazine
        main = f"""  <main class="{p}-page">
  <article class="{p}-article">
    <header class="{p}-article__header">
      <span class="{p}-kicker">{esc(style['nav'][-1])}</span>
      <h1>{esc(a['title'])}</h1>
      <p class="{p}-dek">{esc(a['summary'])}</p>
      <div class="{p}-meta">{byline} {time_el}</div>
    </header>
    {figure}
    <section class="{p}-article__body">
{body}
    </section>
    <footer class="{p}-article__footer">
      <p class="{p}-share">Share: <a href="{home}/share?u={esc(a['url'])}">Email</a></p>
    </footer>
  </article>
{related}
{newsletter}
  </main>"""
    return "\n".join([head, f'<body class="{p}-site">', cookie, header, main, footer,
                      f'  <script src="{home}/static/js/site.js" defer></script>', "</body>", "</html>", ""])


# --------------------------------------------------------------------------- expected

def build_expected(articles: list[dict], outlets: dict) -> dict:
    stories: dict[str, dict] = {}
    arts: dict[str, dict] = {}
    aliases: dict[str, list[str]] = {}
    by_id = {a["id"]: a for a in articles}
    for a in articles:
        if a.get("dup_of"):
            aliases.setdefault(by_id[a["dup_of"]]["url"], []).append(a["url"])
    for a in sorted((a for a in articles if not a.get("dup_of")), key=lambda a: (parse_dt(a["published"]), a["id"])):
        s = stories.setdefault(a["story"], {"us_japan": a["us_japan"], "in_window": False, "articles": [], "outlets": []})
        s["articles"].append(a["url"])
        s["in_window"] = s["in_window"] or in_window(a)
        if a["us_japan"] != s["us_japan"]:
            raise CorpusError(f"story {a['story']} mixes us_japan true and false")
        name = outlets[a["outlet"]]["name"]
        if name not in s["outlets"]:
            s["outlets"].append(name)
        entry = {"story": a["story"], "us_japan": a["us_japan"], "id": a["id"], "in_window": in_window(a)}
        if a.get("near_dup_of"):
            entry["near_dup_of"] = a["near_dup_of"]
        if a["url"] in aliases:
            entry["aliases"] = aliases[a["url"]]
        arts[a["url"]] = entry
    pairs = sorted({(a["story"], a["lookalike_of"]) for a in articles if a.get("lookalike_of")})
    return {
        "window": {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat()},
        "stories": dict(sorted(stories.items())),
        "articles": arts,
        "lookalikes": [list(p) for p in pairs],
    }


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: src/alliance_digest/sample)")
    args = ap.parse_args(argv)

    try:
        outlets_list = load_json(HERE / "outlets.json")
        articles: list[dict] = []
        for name, required in (("usjapan.json", True), ("other.json", False), ("manual.json", True)):
            data = load_json(HERE / name, required)
            if data is None:
                print(f"note: {name} not found, skipped", file=sys.stderr)
                continue
            for a in data:
                if not isinstance(a, dict):
                    raise CorpusError(f"{name}: every item must be an object")
                a["_source"] = name
            articles.extend(data)
        errors, warnings = validate(outlets_list, articles)
    except (CorpusError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"{len(errors)} error(s); nothing written", file=sys.stderr)
        return 1

    outlets = {o["slug"]: o for o in outlets_list} | MANUAL_OUTLETS
    by_id = {a["id"]: a for a in articles}
    for a in articles:
        if a.get("near_dup_of"):
            a["_orig_outlet"] = by_id[a["near_dup_of"]]["outlet"]

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("feeds", "pages"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    for name in ("manual.jsonl", "expected.json"):
        (out / name).unlink(missing_ok=True)

    # feeds
    (out / "feeds").mkdir()
    feed_entries = 0
    for o in outlets_list:
        items = sort_newest([a for a in articles if a["_source"] != "manual.json" and a.get("feed", a["outlet"]) == o["slug"]])
        (out / "feeds" / f"{o['slug']}.xml").write_bytes(FEED_BUILDERS[o["feed_format"]](o, items))
        feed_entries += len(items)

    # pages
    pages = 0
    for a in articles:
        if not a["page"]:
            continue
        pool = [b for b in articles if b["outlet"] == a["outlet"]]
        folder = out / "pages" / a["outlet"]
        folder.mkdir(parents=True, exist_ok=True)
        seg = urlsplit(a["url"]).path.rstrip("/").rsplit("/", 1)[-1]
        (folder / f"{seg}.html").write_text(render_page(a, outlets, pool), encoding="utf-8")
        pages += 1

    # manual links
    manual = sorted((a for a in articles if a["_source"] == "manual.json"), key=lambda a: (parse_dt(a["published"]), a["id"]))
    with (out / "manual.jsonl").open("w", encoding="utf-8") as fh:
        for a in manual:
            fh.write(json.dumps({"url": a["url"], "title": a["title"], "text": text_of(a), "published": a["published"],
                                 "source": outlets[a["outlet"]]["name"], "image": a["image"]}, ensure_ascii=False) + "\n")

    # ground truth
    expected = build_expected(articles, outlets)
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    n_uj = sum(1 for a in articles if a["us_japan"] and not a.get("dup_of"))
    n_stories = len(expected["stories"])
    print(f"sample corpus: {len(outlets_list)} feeds ({feed_entries} entries), {pages} pages, "
          f"{len(expected['articles'])} articles ({n_uj} US-Japan) in {n_stories} stories, "
          f"{len(manual)} manual links -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
