"""The public archive: ``/`` and ``issues/`` (older issues on ``issues/page/<N>/``),
``issues/<V>-<N>/`` permalinks (and their PDF edition, ``issues/<V>-<N>.pdf``) and ``feed.atom``.

- Only published issues are public, and only their frozen content (what was
  approved and sent), never the live draft. Anything else is a 404 that
  looks the same whether the issue is a draft, approved or unknown.
- The issue page is :func:`alliance_digest.render.render` ``(data, "html")``,
  the one web format of an issue, with a navigation bar and head links
  added; its template escapes headlines and sanitises summaries (no raw
  HTML, only http/https/mailto links). The archive and the feed escape
  headlines too.
- No login and no cookies; ETag and Last-Modified come from the content
  (Django's ``condition``), so readers and proxies can revalidate cheaply.
- The archive shows ``ARCHIVE_PAGE_SIZE`` issues a page, newest first: page 1
  at ``issues/`` (and ``/``), page N at ``issues/page/N/`` with rel="prev" and
  rel="next" links; a page that does not exist is the site's 404. Each page
  reads only its own issues (and the count), for its ETag as for its HTML.
- The security headers of the subscription pages (CSP, no referrer,
  X-Frame-Options and nosniff from the middleware), but indexable and
  publicly cacheable.
"""

from __future__ import annotations

import functools
import hashlib
import json
from html import escape
from typing import NamedTuple

from django.contrib.syndication.views import Feed
from django.db.models import Count, Max
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render as render_template
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import http_date, quote_etag
from django.views.decorators.http import condition, require_safe

from alliance_digest import __version__, publishing
from alliance_digest.db.models import Issue
from alliance_digest.render import long_date
from alliance_digest.render import render as render_issue
from alliance_digest.web.views import current_profile

# The issue page shows the lead image, which is hosted by its outlet (https only).
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
FEED_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
MAX_AGE = 300  # seconds a cache may reuse a page without asking again
ARCHIVE_PAGE_SIZE = 50  # issues on one page of the archive (the feed's length too)
NAV_STYLE = ("<style>nav.site { font: .9rem/1.4 \"Helvetica Neue\", Arial, sans-serif; margin: 0 0 .5rem; } "
             "nav.site a { margin-right: .9rem; }</style>\n")


def _headers(response, csp: str = CSP):
    response["Content-Security-Policy"] = csp
    response["Referrer-Policy"] = "no-referrer"
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    return response


def _revalidated(csp: str = CSP):
    """A 304 repeats the page's own headers (Cache-Control above all, RFC 9110 15.4.5).

    ``condition`` answers 304 before the view runs, so without this a
    revalidated page would lose its caching rules and its policies.
    """
    def wrap(view):
        @functools.wraps(view)
        def inner(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            return _headers(response, csp) if response.status_code == 304 else response
        return inner
    return wrap


def _base_url(request, profile) -> str:
    """Absolute links start here: ``site_url``, else the address this request came to."""
    return publishing.site_root(profile) or request.build_absolute_uri("/").rstrip("/")


def _published(request, volume: int, number: int) -> Issue | None:
    return _memo(request, f"issue {volume}.{number}",
                 lambda: publishing.published_issues().filter(volume=volume, number=number).first())


def _fingerprint(request, *parts) -> str:
    """An ETag value: the content shown, the profile values around it, the code version."""
    profile = current_profile()
    blob = json.dumps([__version__, profile.title, _base_url(request, profile), *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


# ------------------------------------------------------------------ archive ---

def _memo(request, name: str, compute):
    """One query per request for what the ETag, Last-Modified and the view all need."""
    memo = request.__dict__.setdefault("_digest_public", {})
    if name not in memo:
        memo[name] = compute()
    return memo[name]


class _ArchivePage(NamedTuple):
    number: int  # 1 is the newest issues
    pages: int  # how many pages the archive has (1 when it is empty)
    count: int  # published issues in all
    first: int  # the position of this page's first issue, newest first, from 1
    rows: list[tuple]  # (volume, number, published_at, frozen) of this page's issues
    latest: object  # the newest publication time of any issue (Last-Modified: every page shifts then)


def archive_path(page: int = 1) -> str:
    """The one address of an archive page: ``/issues/`` for the first, ``/issues/page/N/`` after it."""
    return reverse("archive") if page == 1 else reverse("archive-page", args=[page])


def _at_its_address(request, page: int) -> bool:
    """Page 1 answers at ``/`` and ``/issues/``; ``/issues/page/1/`` and ``/issues/page/02/`` redirect."""
    return request.path == archive_path(page) or page == 1 and request.path == reverse("home")


def _archive_page(request, page: int = 1) -> _ArchivePage | None:
    """The archive page asked for, or None where there is none (or not at this address)."""
    def compute():
        if page < 1 or not _at_its_address(request, page):
            return None
        totals = publishing.published_issues().aggregate(count=Count("pk"), latest=Max("published_at"))
        count = totals["count"]
        pages = max(1, -(-count // ARCHIVE_PAGE_SIZE))
        if page > pages:  # checked before any OFFSET: a huge number is a 404, never a database error
            return None
        start = (page - 1) * ARCHIVE_PAGE_SIZE
        rows = list(publishing.published_issues()
                    .values_list("volume", "number", "published_at", "frozen")[start:start + ARCHIVE_PAGE_SIZE])
        return _ArchivePage(page, pages, count, start + 1, rows, totals["latest"])
    return _memo(request, f"archive {page}", compute)


def _archive_etag(request, page: int = 1) -> str | None:
    found = _archive_page(request, page)
    return found and _fingerprint(request, "archive", found.number, found.count, found.rows)


def _archive_modified(request, page: int = 1):
    found = _archive_page(request, page)
    return found and found.latest


def _page_links(current: int, pages: int) -> list[dict | None]:
    """Numbered links: the first and last pages and two either side of this one; None marks a gap
    (of two pages or more: a gap of one shows that page's number instead)."""
    shown = {1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)}
    shown |= {n + 1 for n in shown if n + 2 in shown}
    links: list[dict | None] = []
    for n in sorted(shown):
        if links and links[-1]["number"] != n - 1:
            links.append(None)
        links.append({"number": n, "url": archive_path(n), "current": n == current})
    return links


@require_safe
@_revalidated()
@condition(etag_func=_archive_etag, last_modified_func=_archive_modified)
def archive(request, page: int = 1):
    asked = request.GET.get("page", "")
    if page == 1 and asked.isascii() and asked.isdigit() and 1 < int(asked) < 10**9:  # the common ?page=N
        return HttpResponsePermanentRedirect(archive_path(int(asked)))
    found = _archive_page(request, page)
    if found is None:
        if page >= 1 and not _at_its_address(request, page):  # one address per page
            return HttpResponsePermanentRedirect(archive_path(page))
        return _not_found(request)  # page 0, or past the last page
    profile = current_profile()
    base = _base_url(request, profile)
    issues = []
    for volume, number, published_at, frozen in found.rows:
        issues.append({
            "title": frozen.get("title", ""), "label": frozen.get("label", f"{volume}.{number}"),
            "date": frozen.get("date_text") or (long_date(frozen["date"]) if frozen.get("date") else ""),
            "published_at": published_at,
            "language": frozen.get("language") or "en",  # the page is English; each issue speaks its own
            "url": publishing.issue_path(volume, number),
            "headlines": [story.get("headline", "") for story in frozen.get("stories", [])],
        })
    number, pages = found.number, found.pages
    context = {
        "title": profile.title, "issues": issues, "subscribe_url": reverse("subscribe"),
        "feed_url": reverse("feed"), "canonical": base + archive_path(number),
        "page": {"number": number, "pages": pages, "count": found.count,
                 "first": found.first, "last": found.first + len(issues) - 1,
                 "newer": archive_path(number - 1) if number > 1 else "",
                 "older": archive_path(number + 1) if number < pages else "",
                 "links": _page_links(number, pages) if pages > 1 else []},
        "base": base,
    }
    return _headers(render_template(request, "digest_web/archive.html", context))


# -------------------------------------------------------------------- issue ---

def _issue_etag(request, volume: int, number: int) -> str | None:
    issue = _published(request, volume, number)
    return _fingerprint(request, "issue", issue.frozen, issue.published_at) if issue else None


def forbidden(request, exception=None):
    """Signed in, but not as an editor (Django's ``handler403``): say so, and offer to sign out."""
    context = {"title": current_profile().title, "username": getattr(request.user, "username", "")}
    response = render_template(request, "digest_web/forbidden.html", context, status=403)
    response["Content-Security-Policy"] = CSP
    response["X-Robots-Tag"] = "noindex"
    return response


def _issue_modified(request, volume: int, number: int):
    issue = _published(request, volume, number)
    return issue.published_at if issue else None


def _not_found(request, exception=None):
    """The site's own "not found" page, for every unknown address (Django's ``handler404``)."""
    profile = current_profile()
    context = {"title": profile.title, "subscribe_url": reverse("subscribe"), "archive_url": reverse("archive"),
               "issue_address": ("" if request.path.startswith("/issues/page/")  # an archive page
                                 else "public" if request.path.startswith("/issues/")
                                 else "editor" if request.path.startswith("/editor/issues/") else "")}
    response = render_template(request, "digest_web/not_found.html", context, status=404)
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _error_page(request, template: str, status: int, **context):
    """An error page in the site's design, even when the profile cannot be read (then untitled)."""
    try:
        context.setdefault("title", current_profile().title)
    except Exception:  # the error may be the profile itself: the page must still be shown
        context.setdefault("title", "")
    response = render_template(request, f"digest_web/{template}", context, status=status)
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    add_never_cache_headers(response)
    return response


def server_error(request):
    """Django's ``handler500``: the site's page instead of a bare "Server Error (500)"."""
    return _error_page(request, "server_error.html", 500)


def csrf_failure(request, reason: str = ""):
    """``CSRF_FAILURE_VIEW``: a form posted without its cookie or token, said in plain words (403)."""
    from django.middleware.csrf import REASON_NO_CSRF_COOKIE

    return _error_page(request, "csrf_failure.html", 403, no_cookie=reason == REASON_NO_CSRF_COOKIE)


def _with_navigation(page: str, canonical: str, feed_url: str, feed_title: str, links: dict[str, str]) -> str:
    """The rendered issue with head links and a navigation bar; the issue itself is untouched."""
    head = (f'<link rel="canonical" href="{escape(canonical)}">\n'
            f'<link rel="alternate" type="application/atom+xml" title="{escape(feed_title)}" '
            f'href="{escape(feed_url)}">\n' + NAV_STYLE)
    nav = ('<nav class="site">'
           + "".join(f'<a href="{escape(url)}">{escape(text)}</a>' for text, url in links.items())
           + "</nav>\n")
    if "</head>" in page:
        page = page.replace("</head>", head + "</head>", 1)
    if "<main>\n" in page:
        page = page.replace("<main>\n", "<main>\n" + nav, 1)
    return page


@require_safe
@_revalidated()
@condition(etag_func=_issue_etag, last_modified_func=_issue_modified)
def issue_page(request, volume: int, number: int):
    if request.path != publishing.issue_path(volume, number):  # /issues/01-01/: one address per issue
        return HttpResponsePermanentRedirect(publishing.issue_path(volume, number))
    issue = _published(request, volume, number)
    if issue is None:  # a draft, approved but unpublished, or unknown: all look the same
        return _not_found(request)
    profile = current_profile()
    base = _base_url(request, profile)
    page = render_issue(publishing.public_content(issue), "html")
    page = _with_navigation(
        page, canonical=base + publishing.issue_path(issue.volume, issue.number),
        feed_url=base + reverse("feed"), feed_title=profile.title,
        links={"All issues": reverse("archive"), "Subscribe": reverse("subscribe"), "Atom feed": reverse("feed"),
               "PDF": reverse("issue-pdf", args=[issue.volume, issue.number])})
    return _headers(HttpResponse(page, content_type="text/html; charset=utf-8"))


# ---------------------------------------------------------------------- pdf ---

def _pdf_etag(request, volume: int, number: int) -> str | None:
    """Changes with the file served (the edition made without its lead image, then the whole one)."""
    issue = _published(request, volume, number)
    version = issue and publishing.pdf_version(current_profile(), issue)
    return _fingerprint(request, "pdf", issue.frozen, issue.published_at, version[0]) if version else None


def _pdf_modified(request, volume: int, number: int):
    issue = _published(request, volume, number)
    version = issue and publishing.pdf_version(current_profile(), issue)
    return max(issue.published_at, version[1]) if version else None


@require_safe
@_revalidated()
@condition(etag_func=_pdf_etag, last_modified_func=_pdf_modified)
def issue_pdf(request, volume: int, number: int):
    from alliance_digest.render.pdf import PdfUnavailable

    issue = _published(request, volume, number)
    if issue is None:
        return _not_found(request)
    try:
        pdf = publishing.pdf_edition(current_profile(), issue)
    except PdfUnavailable:
        return HttpResponse("The PDF edition is not available on this server.", status=503,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="issue-{issue.volume}-{issue.number}.pdf"'
    if not response.has_header("ETag"):  # made by this request: validators of the file just made
        etag, modified = _pdf_etag(request, volume, number), _pdf_modified(request, volume, number)
        if etag:
            response["ETag"] = quote_etag(etag)
            response["Last-Modified"] = http_date(modified.timestamp())
    return _headers(response)


# --------------------------------------------------------------------- feed ---

class _Site:
    """What the feed needs to know besides the issues: the profile and where links start."""

    def __init__(self, profile, base: str):
        self.profile, self.base = profile, base


class IssuesFeed(Feed):
    """Atom feed of published issues: one entry per issue, linking to its permalink."""

    feed_type = Atom1Feed
    limit = ARCHIVE_PAGE_SIZE  # the newest issues, as many as a page of the archive, which has them all

    def get_object(self, request, *args, **kwargs):
        profile = current_profile()
        self.language = profile.language  # the issues' language (xml:lang), not the server's
        return _Site(profile, _base_url(request, profile))

    def title(self, site: _Site) -> str:
        return site.profile.title

    def subtitle(self, site: _Site) -> str | None:
        # English words, said only where the feed's language is English
        return f"Published issues of {site.profile.title}" if site.profile.language.startswith("en") else None

    def link(self, site: _Site) -> str:
        return site.base + reverse("archive")

    def feed_url(self, site: _Site) -> str:
        return site.base + reverse("feed")

    def feed_guid(self, site: _Site) -> str:
        return site.base + reverse("archive")

    def author_name(self, site: _Site) -> str:
        return site.profile.title

    def items(self, site: _Site) -> list[Issue]:
        issues = list(publishing.published_issues().order_by("-published_at", "-volume", "-number")[:self.limit])
        for issue in issues:
            issue.public_url = site.base + publishing.issue_path(issue.volume, issue.number)
        return issues

    def item_title(self, issue: Issue) -> str:  # Atom text: the XML writer escapes it
        return f"{issue.frozen.get('title', issue.title)} {issue.frozen.get('label', issue.key)}"

    def item_link(self, issue: Issue) -> str:
        return issue.public_url

    def item_guid(self, issue: Issue) -> str:
        return issue.public_url

    def item_pubdate(self, issue: Issue):
        return issue.published_at

    def item_updateddate(self, issue: Issue):
        return issue.published_at

    def item_description(self, issue: Issue) -> str:
        """HTML (``type="html"``): the headlines, escaped, each linking to its story on the permalink."""
        stories = issue.frozen.get("stories", [])
        items = "".join(f'<li><a href="{escape(issue.public_url)}#story-{i}">{escape(s.get("headline", ""))}</a></li>'
                        for i, s in enumerate(stories, 1))
        return f"<ol>{items}</ol>" if items else "<p>No stories.</p>"


def _feed_rows(request) -> list[tuple]:
    return _memo(request, "feed", lambda: list(
        publishing.published_issues().order_by("-published_at", "-volume", "-number")
        .values_list("volume", "number", "published_at", "frozen")[:IssuesFeed.limit]))


def _feed_etag(request) -> str:
    return _fingerprint(request, "feed", _feed_rows(request))


def _feed_modified(request):
    return max((row[2] for row in _feed_rows(request) if row[2]), default=None)


_feed_view = IssuesFeed()


@require_safe
@_revalidated(FEED_CSP)
@condition(etag_func=_feed_etag, last_modified_func=_feed_modified)
def feed(request):
    return _headers(_feed_view(request), csp=FEED_CSP)


# A small mark for browser tabs and feed readers, which ask for /favicon.ico on
# every site (a 404 there fills the logs). SVG: one file, sharp at any size.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#1f4e8c"/>'
    '<rect x="7" y="8" width="18" height="3" rx="1" fill="#fff"/>'
    '<rect x="7" y="14.5" width="18" height="2" rx="1" fill="#fff" opacity=".8"/>'
    '<rect x="7" y="19.5" width="13" height="2" rx="1" fill="#fff" opacity=".8"/>'
    '</svg>'
)


@require_safe
def favicon(request):
    response = HttpResponse(FAVICON_SVG, content_type="image/svg+xml")
    patch_cache_control(response, public=True, max_age=7 * 86400)
    return response
