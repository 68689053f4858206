"""The email edition of an issue: subject, preheader, HTML with CSS inlined, plain text.

Built from the same issue data as every other format
(:func:`alliance_digest.services.issue_data`). One template per part:
``email.html.j2`` (a 600 px table layout, fluid on phones, with a dark
scheme) and ``email.txt.j2`` (the ``txt`` issue plus the email's own lines).
The HTML's ``<style>`` block is inlined with ``css-inline``; its ``@media``
rules (phones, dark mode) are kept in the head, which is why they use
``!important``.

Every ``href`` and ``src`` in the HTML is an absolute http(s) or mailto
URL: anything else (relative paths, fragments, ``javascript:``) is dropped,
leaving plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import css_inline
from lxml import html as lxml_html
from markupsafe import Markup

from alliance_digest.render import _env, html_text, reader_words, safe_url, summary_paragraphs

PREHEADER_CHARS = 140
IMAGE_WIDTH = 552  # the 600 px column less its padding

_html_env = _env.overlay(autoescape=True)
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass
class EmailParts:
    subject: str
    html: str   # complete HTML document, CSS inlined
    text: str   # plain-text alternative
    preheader: str


def day_month_year(value: str | date) -> str:
    """``27 October 2023``: the date as the subject line writes it."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%B} {day.year}"


def absolute_url(url: str | None) -> str:
    """The URL if it is absolute http(s) or mailto (see ``safe_url``), else ``""``."""
    value = safe_url(url)
    if value.lower().startswith(("http://", "https://")):
        return value if len(value) > len("https://") else ""
    if value.lower().startswith("mailto:") and len(value) > len("mailto:"):
        return value
    return ""


def subject_line(data: dict, profile) -> str:
    """The subject; its ``{date}`` is the issue's date as readers see it in the body (the profile's style,
    frozen with the issue), so subject and issue never disagree; older issues keep ``8 November 2026``."""
    return profile.subject.format(title=data["title"], volume=data["volume"], number=data["number"],
                                  date=data.get("date_text") or day_month_year(data["date"]))


def preheader_text(data: dict) -> str:
    """The first headline, and the next ones while they fit in the inbox preview."""
    text = ""
    for story in data["stories"]:
        headline = " ".join((story["headline"] or "").split())
        if not headline:
            continue
        candidate = f"{text} · {headline}" if text else headline
        if text and len(candidate) > PREHEADER_CHARS:
            break
        text = candidate
    return text or f"{data['title']} {data['label']}"


def story_paragraphs(summary_markdown: str) -> list[Markup]:
    """A summary as sanitised HTML paragraphs whose links are all absolute."""
    paragraphs = []
    for fragment in summary_paragraphs(summary_markdown):
        tree = lxml_html.fragment_fromstring(str(fragment), create_parent="div")
        for anchor in list(tree.iter("a")):
            href = absolute_url(anchor.get("href"))
            if href:
                anchor.set("href", href)
            else:
                anchor.drop_tag()  # keep the words, lose the link
        inner = lxml_html.tostring(tree, encoding="unicode")
        paragraphs.append(Markup(inner[len("<div>"):-len("</div>")]))
    return paragraphs


def paragraph_text(paragraph: Markup, links: list[str]) -> str:
    """Plain text of a sanitised paragraph; each link becomes ``phrase [n]`` (``links`` grows)."""
    return html_text(str(paragraph), links)


def build_email(data: dict, profile, unsubscribe_url: str | None = None,
                web_url: str | None = None) -> EmailParts:
    """The email of issue ``data`` (``services.issue_data``) for ``profile``.

    ``unsubscribe_url``: the recipient's own link, shown in both parts; None
    for a test send, which says so instead. ``web_url``: the issue on the
    web ("View in your browser", and its PDF edition beside it), optional. Either, when given, must be an
    absolute http(s) or mailto URL (``ValueError`` otherwise).
    """
    checked = {}
    for name, url in (("unsubscribe_url", unsubscribe_url), ("web_url", web_url)):
        checked[name] = absolute_url(url) if url is not None else None
        if url is not None and not checked[name]:
            raise ValueError(f"{name} must be an absolute http(s) or mailto URL, got {url!r}")
    subject = subject_line(data, profile)
    preheader = preheader_text(data)
    image = dict(data.get("image") or {})
    context = dict(
        reader_words(data),
        subject=subject,
        preheader=preheader,
        unsubscribe_url=checked["unsubscribe_url"],
        web_url=checked["web_url"],
        # the permalink /issues/V-N/ has its PDF edition at /issues/V-N.pdf
        pdf_url=checked["web_url"][:-1] + ".pdf" if (checked["web_url"] or "").endswith("/") else None,
        image_src=absolute_url(image.get("url")),
        image_alt=image.get("alt") or (f"Image: {image['credit']}" if image.get("credit") else "Lead image"),
        image_width=int(image.get("width") or IMAGE_WIDTH),
        image_height=int(image["height"]) if image.get("width") and image.get("height") else None,
        credit_url=absolute_url(image.get("credit_url")),
        contact_url=absolute_url(f"mailto:{data['footer']['contact']}") if data["footer"].get("contact") else "",
        site_url=absolute_url(getattr(profile, "site_url", "")),
        email_stories=[{"headline": s["headline"], "paragraphs": story_paragraphs(s["summary_markdown"])}
                       for s in data["stories"]],
        intro_paragraphs=story_paragraphs(data.get("intro") or ""),
    )
    html = _inliner.inline(_html_env.get_template("email.html.j2").render(**context))
    links: list[str] = []
    context["intro_text"] = [paragraph_text(p, links) for p in context["intro_paragraphs"]]  # its links first
    context["text_stories"] = [
        {"headline": " ".join((story["headline"] or "").split()),
         "paragraphs": [paragraph_text(p, links) for p in story["paragraphs"]]}
        for story in context["email_stories"]]
    context["links"] = links
    text = _env.get_template("email.txt.j2").render(**context)
    return EmailParts(subject=subject, html=html, text=text, preheader=preheader)
