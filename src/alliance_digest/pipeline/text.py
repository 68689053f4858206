"""Text helpers shared by stages: HTML to text, sentences, words."""

from __future__ import annotations

import html as _html
import re

import lxml.html
from lxml import etree

_WS = re.compile(r"\s+")
_IMG_SRC = re.compile(r"<img[^>]+src=[\"']([^\"']+)[\"']", re.I)
_IMG_ALT = re.compile(r"<img[^>]+alt=[\"']([^\"']*)[\"']", re.I)
# Abbreviations that end with a period but do not end a sentence.
_ABBREV = (
    "U.S", "U.K", "U.N", "E.U", "Mr", "Mrs", "Ms", "Dr", "Prof", "Gen", "Lt", "Col", "Adm",
    "Sen", "Rep", "Gov", "Sgt", "Capt", "Maj", "St", "Jr", "Sr", "No", "Inc", "Corp", "Co",
    "Ltd", "vs", "etc", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept",
    "Oct", "Nov", "Dec", "a.m", "p.m", "approx", "Dept", "Gov't",
)
_SENT_END = re.compile(r"(?<=[.!?])([\"”’')\]]*)\s+(?=[\"“‘(\[]?[A-Z0-9$])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")


# Zero-width spaces, word joiners, BOMs and bidirectional controls: invisible, and a bidi
# override (U+202E) makes the text after it display reversed, so a headline can be made to
# read as something else. Joiners (U+200C/D) stay: emoji sequences and some scripts need them.
_INVISIBLE = dict.fromkeys([0x200B, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


_CONTROLS = {**dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F]),
             0x0B: " ", 0x0C: " "}  # vertical tab and form feed separate words: they become spaces


def drop_controls(text: str | None) -> str | None:
    """``text`` without C0 control characters (tab and line breaks kept, VT and FF as spaces).

    A NUL in a feed item is never content, and PostgreSQL refuses to store one
    in a text column: left in, it would lose the item (and its batch).
    """
    return text.translate(_CONTROLS) if text else text


def drop_invisible(text: str) -> str:
    return (text or "").translate(_INVISIBLE)


def squash(text: str) -> str:
    """Collapse all whitespace to single spaces (invisible and direction-changing characters dropped)."""
    return _WS.sub(" ", drop_invisible(text)).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (feed descriptions often carry markup)."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return squash(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        for bad in root.xpath("//script|//style"):
            bad.drop_tree()
        for br in root.xpath("//br|//p|//li|//div"):
            br.tail = (br.tail or "") + " "
        return squash(root.text_content())
    except (etree.ParserError, ValueError):
        return squash(_html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


_READ_ON = re.compile(r"^\s*(continue reading|read more|read the full (story|article)|full story|more)\W{0,4}$", re.I)
_WORDPRESS_FOOTER = re.compile(r"^\s*the post .+ appeared first on .+$", re.I | re.S)
SECTION_LABEL_MAX_WORDS = 3


def description_text(fragment: str) -> str:
    """Plain text of a feed item's description, without the feed's furniture.

    Descriptions often end in links that are not the teaser: a section label
    on its own line (``<br /><a href="/markets">Markets</a>``), "Continue
    reading", or WordPress's "The post ... appeared first on ...". Left in,
    they run into the teaser's last sentence ("... help fund AI bets
    Markets.").
    """
    if not fragment or "<" not in fragment:
        return html_to_text(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return html_to_text(fragment)
    for block in root.xpath("//p|//div[not(.//p)]"):
        if block is not root and _WORDPRESS_FOOTER.match(block.text_content()):
            block.drop_tree()
    for link in root.xpath("//a"):
        label = squash(link.text_content())
        if _is_last(link) and (_READ_ON.match(label) or (_own_line(link) and _is_label(label))):
            link.drop_tree()
    return html_to_text(etree.tostring(root, encoding="unicode"))


def _is_label(text: str) -> bool:
    return 0 < len(text.split()) <= SECTION_LABEL_MAX_WORDS and not text.rstrip().endswith((".", "!", "?"))


def _is_last(element) -> bool:
    """Nothing but whitespace follows ``element`` in its description."""
    node = element
    while node is not None and node.getparent() is not None:
        if (node.tail or "").strip():
            return False
        if any(squash(sib.text_content() if isinstance(sib.tag, str) else "") for sib in node.itersiblings()):
            return False
        node = node.getparent()
    return True


def _own_line(element) -> bool:
    """``element`` starts a line: after a ``<br>``, or alone in its block."""
    previous = element.getprevious()
    if previous is not None:
        return previous.tag == "br" and not (previous.tail or "").strip()
    parent = element.getparent()
    return parent is not None and not (parent.text or "").strip() and parent.getparent() is not None


def image_in_html(fragment: str) -> tuple[str | None, str | None]:
    """The first ``<img>`` of a description (some feeds carry the picture only there), with its alt text."""
    match = _IMG_SRC.search(fragment)
    if match and match.group(1).lower().startswith(("http://", "https://")):
        alt = _IMG_ALT.search(fragment)
        return _html.unescape(match.group(1)), (_html.unescape(alt.group(1)) if alt else None)
    return None, None


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; paragraphs always end a sentence."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n|\n", text or ""):
        para = squash(para)
        if not para:
            continue
        start = 0
        for m in _SENT_END.finditer(para):
            before = para[start:m.start()]
            last = before.rsplit(" ", 1)[-1].rstrip(".")
            if last in _ABBREV or (len(last) == 1 and last.isupper()):
                continue
            out.append(para[start:m.end(1)].strip())  # closing quotes stay with their sentence
            start = m.end()
        tail = para[start:].strip()
        if tail:
            out.append(tail)
    return [s for s in out if s]


def words(text: str) -> list[str]:
    """Word tokens (keeps U.S., 2+2-like digits and hyphenated words together)."""
    return _WORD.findall(text or "")


def word_count(text: str) -> int:
    return len(words(text))
