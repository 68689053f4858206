"""Text helpers shared by stages: HTML to text, sentences, words."""

from __future__ import annotations

import html as _html
import re

import lxml.html
from lxml import etree

_WS = re.compile(r"\s+")
# Abbreviations that end with a period but do not end a sentence.
_ABBREV = (
    "U.S", "U.K", "U.N", "E.U", "Mr", "Mrs", "Ms", "Dr", "Prof", "Gen", "Lt", "Col", "Adm",
    "Sen", "Rep", "Gov", "Sgt", "Capt", "Maj", "St", "Jr", "Sr", "No", "Inc", "Corp", "Co",
    "Ltd", "vs", "etc", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept",
    "Oct", "Nov", "Dec", "a.m", "p.m", "approx", "Dept", "Gov't",
)
_SENT_END = re.compile(r"(?<=[.!?])([\"”’')\]]*)\s+(?=[\"“‘(\[]?[A-Z0-9$])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")


def squash(text: str) -> str:
    """Collapse all whitespace to single spaces."""
    return _WS.sub(" ", text or "").strip()


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
