"""Rendering an issue's data (see :func:`alliance_digest.services.issue_data`).

One Jinja2 template per output format is the single source of truth for
that format; this module only prepares values (Markdown to safe HTML, link
lists for plain text).
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache

import markdown as _markdown
import nh3
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from lxml import html as lxml_html
from markupsafe import Markup

FORMATS = ("md", "html", "txt", "json")
ALLOWED_TAGS = {"a", "strong", "em", "b", "i", "code", "p", "br"}
SAFE_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=4096)
def markdown_html(text: str) -> Markup:
    """Inline Markdown to sanitised HTML: raw HTML and unsafe URLs never pass.

    Cached: a pure function of the text, called for every story on every
    editor page and preview.
    """
    md = _markdown.Markdown()
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    html = md.convert(text or "")
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    cleaned = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href"}}, url_schemes=SAFE_SCHEMES,
                        link_rel="noopener")
    return Markup(cleaned)


def markdown_text(text: str, links: list[str]) -> str:
    """Plain text of inline Markdown; each link becomes ``phrase [n]``."""
    return html_text(str(markdown_html(text)), links)


def html_text(html: str, links: list[str]) -> str:
    """Plain text of sanitised HTML; each link becomes ``phrase [n]`` (``links`` grows)."""
    tree = lxml_html.fragment_fromstring(html or " ", create_parent="div")
    for anchor in tree.iter("a"):
        href = anchor.get("href")
        if href:
            if href not in links:
                links.append(href)
            anchor.tail = f" [{links.index(href) + 1}]" + (anchor.tail or "")
    return " ".join(tree.text_content().split())


def safe_url(url: str | None) -> str:
    """The URL if it is http(s) or mailto, else an inert ``#``."""
    value = (url or "").strip()
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme in SAFE_SCHEMES:
        from alliance_digest.pipeline.summarise import md_url

        return md_url(value)
    return "#"


def long_date(value: str | date) -> str:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day:%B} {day.day}, {day.year}"


def md_inline(text: str) -> str:
    """Escape plain text (headlines, credits) for Markdown."""
    from alliance_digest.pipeline.summarise import md_escape

    return md_escape(text or "")


_env = Environment(
    loader=PackageLoader("alliance_digest", "render/templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)
_env.filters.update(markdown_html=markdown_html, long_date=long_date, md=md_inline, safe_url=safe_url)


def render(data: dict, fmt: str) -> str:
    """Render issue ``data`` as ``md``, ``html``, ``txt`` or ``json``."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    context = dict(data)
    if fmt == "txt":
        links: list[str] = []
        context["text_stories"] = [
            {"headline": s["headline"], "summary": markdown_text(s["summary_markdown"], links)}
            for s in data["stories"]]
        context["links"] = links
    return _env.get_template(f"issue.{fmt}.j2").render(**context)
