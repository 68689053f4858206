"""The editors' pages. Every page needs a signed-in staff account; every change is a CSRF-protected POST.

Pages carry a Content-Security-Policy with a fresh nonce per response for
their one inline style and script block; previews of the issue allow no
script at all. Feed and editor text is escaped by the templates; Markdown
reaches the page only through :func:`alliance_digest.render.markdown_html`
(sanitised by nh3).
"""

from __future__ import annotations

import functools
import secrets

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from alliance_digest.db.models import Article, Issue
from alliance_digest.editor import actions
from alliance_digest.editor.forms import StoryForm, TestSendForm

PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REASONS = (("relevance", "Relevance"), ("outlets", "Outlets"), ("authority", "Authority"),
           ("recency", "Recency"), ("novelty", "Novelty"))


def page_csp(nonce: str) -> str:
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
            f"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def with_csp(view):
    """A fresh nonce on ``request.csp_nonce`` and the matching CSP header (unless the view set its own)."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = view(request, *args, **kwargs)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = page_csp(request.csp_nonce)
        response["X-Robots-Tag"] = "noindex, nofollow"
        add_never_cache_headers(response)
        return response
    return wrapper


def editor_required(view):
    """Anonymous users go to the sign-in page (a POST does nothing); signed-in non-editors get 403."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            target = request.get_full_path() if request.method == "GET" else reverse("editor-dashboard")
            return redirect_to_login(target)
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("editors only")
        return view(request, *args, **kwargs)
    return with_csp(wrapper)


def _profile():
    from alliance_digest.web.views import current_profile

    return current_profile()


def _issue(volume: int, number: int) -> Issue:
    issue = Issue.objects.filter(volume=volume, number=number).first()
    if issue is None:
        raise Http404("no such issue")
    return issue


def _back(issue: Issue, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("editor-issue", args=[issue.volume, issue.number]) + (f"#{anchor}" if anchor else "")
    return HttpResponseRedirect(url, status=303)


# ---------------------------------------------------------------- accounts ---

login = with_csp(auth_views.LoginView.as_view(template_name="digest_editor/login.html",
                                              redirect_authenticated_user=True))
logout = with_csp(require_POST(auth_views.LogoutView.as_view()))


# --------------------------------------------------------------- dashboard ---

def _counts(issue: Issue, profile) -> dict:
    from alliance_digest.pipeline.compose import Window
    from alliance_digest.services import window_articles

    in_window = Article.objects.filter(window_articles(Window(issue.window_start, issue.window_end)))
    return {
        "articles": in_window.count(),
        "relevant": in_window.filter(relevance__gte=profile.topic.threshold).count(),
        "stories": issue.stories.filter(selected=True).count(),
        "candidates": issue.stories.filter(selected=False).count(),
    }


@require_GET
@editor_required
def dashboard(request):
    profile = _profile()
    draft = Issue.objects.filter(status=Issue.Status.DRAFT).order_by("-volume", "-number").first()
    recent = list(Issue.objects.order_by("-volume", "-number")[:12])
    for issue in recent:
        issue.label = profile.numbering.label(issue.volume, issue.number)
    context = {"profile": profile, "draft": draft, "recent": recent}
    if draft is not None:
        context["draft_label"] = profile.numbering.label(draft.volume, draft.number)
        context["counts"] = _counts(draft, profile)
        context["last_edit"] = draft.edits.first()
    return render(request, "digest_editor/dashboard.html", context)


# ------------------------------------------------------------ draft editor ---

def _reasons(story) -> list[dict]:
    reasons = story.reasons or {}
    rows = []
    for key, label in REASONS:
        if key not in reasons:
            continue
        value = reasons[key]
        if key == "outlets":
            names = ", ".join(reasons.get("outlet_names") or [])
            text = f"{value}" + (f" ({names})" if names else "")
        elif isinstance(value, (int, float)):
            text = f"{value:.2f}"
        else:
            text = str(value)
        rows.append({"label": label, "value": text})
    if reasons.get("repeat_of_earlier_issue"):
        rows.append({"label": "Repeat", "value": "covered in an earlier issue"})
    return rows


def _story_view(story, editable: bool) -> dict:
    from alliance_digest.render import markdown_html, safe_url

    links = sorted(story.storyarticle_set.all(), key=lambda link: link.position)
    view = {
        "id": story.pk, "selected": story.selected, "position": story.position, "headline": story.headline,
        "summary_html": markdown_html(story.summary_markdown), "score": story.score,
        "reasons": _reasons(story),
        "sources": [{"source": link.article.source, "title": link.article.title,
                     "href": safe_url(link.article.url), "published": link.article.published}
                    for link in links],
    }
    if editable and story.selected:
        view["form"] = StoryForm(prefix=f"s{story.pk}", initial={
            "headline": story.headline, "summary_markdown": story.summary_markdown})
    return view


@require_GET
@editor_required
def issue_page(request, volume: int, number: int):
    from alliance_digest.render.email import subject_line
    from alliance_digest.services import issue_data

    profile = _profile()
    issue = _issue(volume, number)
    editable = issue.status == Issue.Status.DRAFT
    stories = list(issue.stories.prefetch_related("storyarticle_set__article").order_by("position", "id"))
    selected = [_story_view(s, editable) for s in stories if s.selected]
    candidates = [_story_view(s, editable) for s in stories if not s.selected]
    for k, story in enumerate(selected):
        story["first"], story["last"] = k == 0, k == len(selected) - 1
    data = issue.frozen or issue_data(issue, profile)
    history = [{"who": e.username or "?", "at": e.at, "what": actions.describe(e), "action": e.action}
               for e in issue.edits.all()[:100]]
    return render(request, "digest_editor/issue.html", {
        "profile": profile, "issue": issue, "label": profile.numbering.label(issue.volume, issue.number),
        "editable": editable, "selected": selected, "candidates": candidates, "history": history,
        "counts": _counts(issue, profile), "subject": subject_line(data, profile),
        "test_form": TestSendForm(initial={"email": request.user.email}),
        "permalink": _public_link(profile, issue),
    })


def _public_link(profile, issue: Issue) -> str:
    """Where a published issue is public: its permalink (``site_url``), else this site's path for it."""
    from alliance_digest import publishing

    return publishing.permalink(profile, issue)


def _act(request, volume: int, number: int, do, anchor: str = "selected"):
    issue = _issue(volume, number)
    try:
        note = do(issue)
    except actions.EditError as exc:
        messages.error(request, str(exc))
    else:
        if note:
            messages.success(request, note)
    return _back(issue, anchor)


@require_POST
@editor_required
def include(request, volume: int, number: int, story_id: int):
    def do(issue):
        story = actions.include(issue, story_id, request.user)
        return f"Included “{story.headline}” as story {story.position}."
    return _act(request, volume, number, do)


@require_POST
@editor_required
def drop(request, volume: int, number: int, story_id: int):
    def do(issue):
        story = actions.drop(issue, story_id, request.user)
        return f"Dropped “{story.headline}”; it is back among the candidates."
    return _act(request, volume, number, do)


@require_POST
@editor_required
def move(request, volume: int, number: int, story_id: int):
    direction = request.POST.get("direction", "")

    def do(issue):
        story = actions.move(issue, story_id, direction, request.user)
        return f"Moved “{story.headline}” {direction}."
    return _act(request, volume, number, do, anchor=f"story-{story_id}")


@require_POST
@editor_required
def reorder(request, volume: int, number: int):
    """The drag-and-drop order: ``order`` = the selected stories' ids, comma-separated. Answers JSON."""
    issue = _issue(volume, number)
    ids = [part for part in request.POST.get("order", "").split(",") if part.strip()]
    try:
        actions.reorder(issue, ids, request.user)
    except actions.EditError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True})


@require_POST
@editor_required
def edit(request, volume: int, number: int, story_id: int):
    form = StoryForm(request.POST, prefix=f"s{story_id}")

    def do(issue):
        actions.check_draft(issue)
        if not form.is_valid():
            problems = "; ".join(f"{form.fields[name].label or name}: {' '.join(errs)}"
                                 for name, errs in form.errors.items())
            raise actions.EditError(f"Not saved: {problems}")
        changed = actions.edit(issue, story_id, form.cleaned_data["headline"],
                               form.cleaned_data["summary_markdown"], request.user)
        return "Saved." if changed else "Nothing changed."
    return _act(request, volume, number, do, anchor=f"story-{story_id}")


@require_POST
@editor_required
def approve(request, volume: int, number: int):
    def do(issue):
        issue = actions.approve(_profile(), issue, request.user)
        return f"Approved issue {issue.key}: its content is frozen. Send it with `digest send {issue.key}`."
    return _act(request, volume, number, do, anchor="")


@require_POST
@editor_required
def publish(request, volume: int, number: int):
    def do(issue):
        profile = _profile()
        issue = actions.publish(profile, issue, request.user)
        return f"Published issue {issue.key}: it is on the public archive."
    return _act(request, volume, number, do, anchor="publish")


@require_POST
@editor_required
def send_test(request, volume: int, number: int):
    from alliance_digest import delivery

    issue = _issue(volume, number)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Test email not sent: " + " ".join(form.errors.get("email", ["invalid address"])))
        return _back(issue, "send-test")
    address = form.cleaned_data["email"]
    try:
        sent = delivery.send_test(_profile(), issue, [address])
    except (delivery.DeliveryError, OSError, ValueError) as exc:
        error = " ".join(str(exc).split()) or exc.__class__.__name__
        actions.record_test_send(issue, request.user, [address], error)
        messages.error(request, f"Test email not sent: {error}")
    else:
        actions.record_test_send(issue, request.user, sent)
        messages.success(request, f"Test email sent to {', '.join(sent)}.")
    return _back(issue, "send-test")


@require_POST
@editor_required
def markdown_preview(request):
    """Sanitised HTML of the posted ``markdown``: exactly what the issue will show."""
    from alliance_digest.render import markdown_html

    text = request.POST.get("markdown", "")[:20000]
    return JsonResponse({"html": str(markdown_html(text))})


# ---------------------------------------------------------------- previews ---

def preview_parts(issue: Issue, profile, kind: str) -> tuple[str, str]:
    """(content type, body): the web page, the email's HTML or its plain text, as it will be delivered."""
    from alliance_digest import delivery
    from alliance_digest.render import render as render_issue
    from alliance_digest.render.email import build_email

    data = delivery.content_of(issue, profile)
    if kind == "web":
        return "text/html; charset=utf-8", render_issue(data, "html")
    site = (profile.site_url or "").rstrip("/")
    web_url = f"{site}/issues/{issue.volume}-{issue.number}/" if site else None
    parts = build_email(data, profile, unsubscribe_url=delivery.PLACEHOLDER, web_url=web_url)
    # Each subscriber's own unsubscribe link goes where the placeholder is.
    example = f"{site}/unsubscribe/PERSONAL-LINK/" if site else delivery.PLACEHOLDER
    if kind == "email":
        return "text/html; charset=utf-8", parts.html.replace(delivery.PLACEHOLDER, example)
    if kind == "text":
        head = f"Subject: {parts.subject}\n\n"
        return "text/plain; charset=utf-8", head + parts.text.replace(delivery.PLACEHOLDER, example)
    raise Http404("no such preview")


@require_GET
@editor_required
def preview(request, volume: int, number: int, kind: str):
    issue = _issue(volume, number)
    if kind not in ("web", "email", "text"):
        raise Http404("no such preview")
    content_type, body = preview_parts(issue, _profile(), kind)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Security-Policy"] = PREVIEW_CSP
    return response
