"""Rendering an issue's data (see :func:`alliance_digest.services.issue_data`).

One Jinja2 template per output format is the single source of truth for
that format; this module only prepares values (Markdown to safe HTML, link
lists for plain text).
"""

from __future__ import annotations

import html as _html
import json
import re
import string
import unicodedata
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


MARKDOWN_MAX_NESTING = 8  # lists, quotes or brackets inside each other: a summary paragraph needs few
_NESTED_MARKERS = re.compile(r"^[ \t]*((?:(?:[-*+]|\d{1,9}[.)]|>)[ \t]+)+)", re.M)


def markdown_problem(text: str) -> str | None:
    """Why ``text`` cannot be a story's Markdown, or None.

    Markdown nested very deep (``- - - - ... x``, ``[[[[...]]]]``) makes the
    Markdown parser recurse or backtrack for seconds: refused on input, so
    that no saved text can stop an issue from rendering.
    """
    for match in _NESTED_MARKERS.finditer(text or ""):
        if len(re.findall(r"[-*+>]|\d+[.)]", match.group(1))) > MARKDOWN_MAX_NESTING:
            return f"lists or quotes nested more than {MARKDOWN_MAX_NESTING} deep are not supported"
    depth = deepest = 0
    for char in text or "":
        if char in "[(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "])" and depth:
            depth -= 1
    if deepest > MARKDOWN_MAX_NESTING:
        return f"brackets nested more than {MARKDOWN_MAX_NESTING} deep are not supported"
    indent = max((len(line) - len(line.lstrip(" \t")) for line in (text or "").splitlines()), default=0)
    if indent > 4 * MARKDOWN_MAX_NESTING:
        return f"lines indented more than {4 * MARKDOWN_MAX_NESTING} spaces are not supported"
    return None


def _plain_paragraphs(text: str) -> str:
    escaped = _html.escape(text or "")
    return "<br>".join(escaped.splitlines())


_COMMONMARK_ESCAPES = list(string.punctuation)  # CommonMark: any ASCII punctuation may be escaped


def summary_paragraphs(text: str) -> list[Markup]:
    """A story's summary as its paragraphs (blank-line separated), each sanitised inline HTML.

    Editors may write a story in two paragraphs; every format keeps them as
    paragraphs (never a ``<p>`` inside a ``<p>``, never text that falls out
    of the Markdown list item).
    """
    text = (text or "").replace("\r\n", "\n")
    if markdown_problem(text):
        return [Markup(_plain_paragraphs(chunk.strip())) for chunk in text.split("\n\n") if chunk.strip()]
    # the whole text at once (a reference link's definition may stand in another paragraph), then its paragraphs
    tree = lxml_html.fragment_fromstring(str(markdown_html(text)) or " ", create_parent="div")
    paragraphs, loose = [], []

    def flush():
        inner = "".join(loose).strip()
        if inner:
            paragraphs.append(Markup(inner))
        loose.clear()

    loose.append(_html.escape(tree.text or ""))
    for child in tree:
        if child.tag == "p":
            flush()
            inner = lxml_html.tostring(child, encoding="unicode", with_tail=False)
            paragraphs.append(Markup(inner[inner.index(">") + 1:inner.rindex("</p>")].strip()))
            loose.append(_html.escape(child.tail or ""))
        else:
            loose.append(lxml_html.tostring(child, encoding="unicode"))
    flush()
    return [p for p in paragraphs if str(p).strip()]


@lru_cache(maxsize=4096)
def markdown_html(text: str) -> Markup:
    """Inline Markdown to sanitised HTML: raw HTML and unsafe URLs never pass.

    Text the parser cannot take (:func:`markdown_problem`; forms refuse it,
    but older rows or imports may hold it) is shown as escaped plain text
    rather than failing the page. Cached: a pure function of the text,
    called for every story on every editor page and preview.
    """
    if markdown_problem(text):
        return Markup(_plain_paragraphs(text))
    md = _markdown.Markdown()
    # CommonMark lets any punctuation be backslash-escaped and ``md_escape`` writes ``\<``; Python-Markdown
    # knows no ``\<`` (it would print the backslash): teach it, so every output reads "<" as written.
    md.ESCAPED_CHARS = _COMMONMARK_ESCAPES
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    try:
        html = md.convert(text or "")
    except RecursionError:
        return Markup(_plain_paragraphs(text))
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


TEXT_WIDTH = 76


def _columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


_WIDE_OR_RUN = re.compile(r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
                          r"|[^\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]+")


_NO_LINE_START = set("、。，．・：；？！）」』】〕〉》ー")  # Japanese closing marks stay with what they close


def text_wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Plain text wrapped at ``width`` display columns, paragraph breaks kept.

    Japanese and Chinese take two columns a character and may break between
    any two of them (they use no spaces); a long word (a URL) stays whole on
    its own line rather than broken.
    """
    out = []
    for paragraph in (text or "").split("\n"):
        pieces: list[tuple[str, bool]] = []  # (piece, space before it)
        for word in paragraph.split():
            # a word's first piece follows a space; the rest join on: runs of narrow characters
            # stay together, each wide character stands alone (a line may break after it)
            for k, piece in enumerate(_WIDE_OR_RUN.findall(word)):
                pieces.append((piece, k == 0))
        lines, line, used = [], "", 0
        for piece, spaced in pieces:
            size = sum(_columns(c) for c in piece)
            gap = 1 if spaced and line else 0
            if line and used + gap + size > width and piece not in _NO_LINE_START:
                lines.append(line)
                line, used, gap = "", 0, 0
            line += (" " if gap else "") + piece
            used += gap + size
        lines.append(line)
        out.append("\n".join(lines))
    return "\n".join(out)


_env = Environment(
    loader=PackageLoader("alliance_digest", "render/templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)
_env.filters.update(markdown_html=markdown_html, long_date=long_date, md=md_inline, safe_url=safe_url,
                    text_wrap=text_wrap, paragraphs=summary_paragraphs)


def reader_words(data: dict) -> dict:
    """``data`` with what the templates need of the digest's language, for issues frozen before it existed too."""
    from alliance_digest.profile import DEFAULT_LABELS

    context = dict(data)
    context["labels"] = {**DEFAULT_LABELS, **(data.get("labels") or {})}
    context["language"] = data.get("language") or "en"
    context["date_text"] = data.get("date_text") or long_date(data["date"])
    return context


def render(data: dict, fmt: str) -> str:
    """Render issue ``data`` as ``md``, ``html``, ``txt`` or ``json``."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    context = reader_words(data)
    if fmt == "txt":
        links: list[str] = []
        context["intro_text"] = [html_text(str(p), links) for p in summary_paragraphs(data.get("intro") or "")]
        context["text_stories"] = [
            {"headline": s["headline"],
             "paragraphs": [html_text(str(p), links) for p in summary_paragraphs(s["summary_markdown"])]}
            for s in data["stories"]]
        context["links"] = links
    return _env.get_template(f"issue.{fmt}.j2").render(**context)
