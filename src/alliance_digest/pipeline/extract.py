"""Article pages (HTML) into article records: main text and metadata via ``trafilatura``.

trafilatura gives the body, title, author and site name; the page's own
``<meta>`` tags (Open Graph, ``article:published_time``, canonical link) are
read directly because they carry the exact URL, time and image the
publisher declared.
"""

from __future__ import annotations

import logging

import lxml.html
from lxml import etree

from alliance_digest.pipeline.dates import DateError, parse_date
from alliance_digest.pipeline.records import ArticleRecord, Problem, ReadResult
from alliance_digest.pipeline.text import squash
from alliance_digest.pipeline.urls import BadURL, canonicalise, host_of

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)

_DATE_META = ("article:published_time", "og:article:published_time", "datePublished",
              "date", "dc.date", "DC.date.issued", "pubdate", "sailthru.date", "parsely-pub-date")


def looks_like_html(content: bytes) -> bool:
    head = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    for encoding in ("utf-8-sig",):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            pass
    try:  # let lxml honour a declared <meta charset>
        return lxml.html.tostring(lxml.html.document_fromstring(content), encoding="unicode")
    except (etree.ParserError, ValueError):
        return content.decode("cp1252", errors="replace")


def extract_text(html: str, url: str | None = None) -> str:
    """Main text only (used for JSONL lines that carry raw HTML)."""
    import trafilatura

    return trafilatura.extract(html, url=url, include_comments=False) or ""


def _meta(tree) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.xpath("//meta[@content]"):
        key = node.get("property") or node.get("name") or node.get("itemprop")
        if key and key not in found:
            found[key] = node.get("content", "").strip()
    for node in tree.xpath("//link[@rel='canonical'][@href]"):
        found.setdefault("canonical", node.get("href").strip())
    for node in tree.xpath("//time[@datetime]"):
        found.setdefault("time", node.get("datetime").strip())
        break
    return found


def _valid(address: str) -> bool:
    try:
        canonicalise(address)
    except BadURL:
        return False
    return True


def parse_page(content: bytes | str, origin: str, url: str | None = None,
               source_name: str | None = None) -> ReadResult:
    """Extract one article from an HTML page; ``url`` is where it was fetched."""
    import trafilatura

    result = ReadResult()
    html = _decode(content)
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        result.fatal = Problem(origin, f"not an HTML page ({exc})")
        return result
    meta = _meta(tree)
    # favor_precision + tables: the best of the settings measured on the
    # extraction benchmark (docs/QUALITY.md), ahead of plain trafilatura
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=True, favor_precision=True)
    data = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    page_url = meta.get("og:url") or meta.get("canonical") or data.get("url") or url
    if not page_url or "://" not in page_url or page_url.startswith("file:") or not _valid(page_url):
        page_url = url or origin  # the page's own claim is unusable: where it was read from
    title = squash(meta.get("og:title") or data.get("title") or "")
    text = (data.get("text") or "").strip()
    if not title and not text:
        result.fatal = Problem(origin, "no article found in the page (no title or main text)")
        return result
    if not title:
        result.fatal = Problem(origin, "page has no title")
        return result
    published = None
    for key in _DATE_META + ("time",):
        if meta.get(key):
            try:
                published = parse_date(meta[key])
                break
            except DateError:
                continue
    if published is None and data.get("date"):
        try:
            published = parse_date(data["date"])
        except DateError:
            result.problems.append(Problem(origin, f"unparseable date {data['date']!r}; kept without a date"))
    source = source_name or meta.get("og:site_name") or data.get("sitename") or host_of(page_url)
    result.articles.append(ArticleRecord(
        url=page_url, canonical_url=canonicalise(page_url), guid=None, title=title,
        summary=squash(meta.get("og:description") or meta.get("description") or data.get("description") or ""),
        text=text, author=(meta.get("author") or data.get("author") or None), source=squash(source),
        published=published, image=meta.get("og:image") or data.get("image") or None,
        image_alt=meta.get("og:image:alt") or None, origin=origin,
    ))
    return result
