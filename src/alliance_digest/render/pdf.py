"""The PDF edition: the web page's print rendering (``issue.html.j2`` and its ``@media print``
and ``@page`` rules), laid out by WeasyPrint.

One template serves the web page and the PDF, so the two never drift apart;
links stay clickable in the PDF. Rendering never touches the network by
itself: WeasyPrint gets a URL fetcher that serves only the lead image, read
beforehand by the caller (through the polite fetcher, with its address-safety
checks and size limits; see :func:`lead_image_loader`), and refuses anything
else. A lead image that cannot be read is left out with its credit line, and
the notes say why.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Callable

ImageLoader = Callable[[str], "tuple[bytes, str] | str"]  # URL -> (body, MIME type) or a reason it failed
MAX_IMAGE_BYTES = 8 * 2**20
IMAGE_TIMEOUT = 15.0  # seconds for the lead image, whatever the profile's [fetch] allows


class _Refused(Exception):
    pass


class PdfUnavailable(Exception):
    """WeasyPrint cannot load its system libraries (Pango) on this machine."""


def _weasyprint():
    try:
        import weasyprint
        import weasyprint.urls
    except OSError as exc:  # cffi could not open libpango / libgobject
        raise PdfUnavailable(
            "PDF output needs the Pango text library, which this machine lacks "
            f"({exc}); on Debian or Ubuntu: apt install libpango-1.0-0 libpangoft2-1.0-0") from None
    return weasyprint


def render_pdf(data: dict, load_image: ImageLoader | None = None) -> tuple[bytes, list[str]]:
    """The issue as PDF bytes, and plain-words notes (e.g. why the lead image is missing)."""
    from alliance_digest.render import render

    weasyprint = _weasyprint()

    notes: list[str] = []
    image_url = (data.get("image") or {}).get("url") or ""
    image: tuple[bytes, str] | None = None
    if image_url and load_image is not None:  # None: the caller chose a PDF without the image
        loaded = load_image(image_url)
        if isinstance(loaded, str):
            notes.append(f"lead image not embedded: {loaded}")
        else:
            image = loaded

    class OnlyTheLeadImage(weasyprint.urls.URLFetcher):
        """Serves the lead image read beforehand; any other resource is refused (no network here)."""

        def fetch(self, url, headers=None):
            if image is not None and url == image_url:
                return weasyprint.urls.URLFetcherResponse(url, image[0], {"Content-Type": image[1]})
            raise _Refused(f"not fetched while rendering: {url}")  # WeasyPrint skips the resource

    if image is None and image_url:  # no gray box where the picture should be, nor a credit for it
        data = {**data, "image": {**data["image"], "url": ""}}
    html = render(data, "html")
    notes += missing_glyphs_note(html)
    logger = logging.getLogger("weasyprint")
    previous, logger.disabled = logger.disabled, True  # refused resources are expected, not news
    try:
        document = weasyprint.HTML(string=html, url_fetcher=OnlyTheLeadImage(), base_url="about:blank")
        return document.write_pdf(), notes
    finally:
        logger.disabled = previous


def missing_glyphs_note(text: str) -> list[str]:
    """A note naming characters no installed font can draw (they would print as empty boxes).

    A US-Japan issue may quote a name in Japanese; without a CJK font
    WeasyPrint silently draws boxes. Asked of fontconfig (``fc-list``), one
    character per Unicode block; says nothing when fontconfig is not there.
    """
    samples: dict[int, str] = {}
    for char in text:
        if ord(char) > 0x2FF and not char.isspace() and ord(char) >> 8 not in samples:
            samples[ord(char) >> 8] = char
    missing = [char for char in samples.values() if not _has_font(char)]
    if not missing:
        return []
    return [f"no installed font draws {', '.join(missing[:5])} (and the text like them): the PDF shows "
            "them as empty boxes; install a font that covers them (for Japanese: Debian's fonts-noto-cjk)"]


@functools.lru_cache(maxsize=512)
def _has_font(char: str) -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return True  # cannot tell: say nothing
    try:
        found = subprocess.run([fc_list, f":charset={ord(char):x}", "family"], capture_output=True, text=True,
                               timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return True
    return bool(found.stdout.strip())


def lead_image_loader(profile) -> ImageLoader:
    """Read an image URL with the profile's polite fetcher (address safety, size limits)."""
    import dataclasses

    from alliance_digest.pipeline.fetcher import FetchRequest, fetch_all

    policy = dataclasses.replace(
        profile.fetch.policy(profile.user_agent), max_bytes=min(profile.fetch.max_bytes, MAX_IMAGE_BYTES),
        total_timeout=min(profile.fetch.total_timeout, IMAGE_TIMEOUT), retries=0)

    def load(url: str) -> tuple[bytes, str] | str:
        if not url.lower().startswith(("http://", "https://")):
            return f"only http(s) images are read ({url})"
        (result,) = fetch_all([FetchRequest(url=url, kind="image")], policy)
        if not result.ok or not result.content:
            return result.error or f"nothing came back from {url}"
        mime = (result.content_type or "").split(";")[0].strip().lower()
        if not mime.startswith("image/"):
            return f"{url} is not an image ({mime or 'no content type'})"
        return result.content, mime

    return load
