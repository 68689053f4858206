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

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alliance_digest.db.models import Article, Issue, IssueEdit, Story
from alliance_digest.editor import actions
from alliance_digest.editor.forms import (CreditForm, IssueFieldsForm, PasteUrlsForm, StoryForm, TestSendForm,
                                          WriteStoryForm, form_problems)

PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REASONS = (("relevance", "Relevance"), ("outlets", "Outlets"), ("authority", "Authority"),
           ("recency", "Recency"), ("novelty", "Novelty"))


def page_csp(nonce: str) -> str:
    # img-src allows the sources' images: the lead-image picker shows them (no referrer is sent)
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            f"img-src 'self' https: http:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            f"base-uri 'none'")


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
            if request.method == "POST" and "volume" in kwargs and "number" in kwargs:
                # signed out mid-edit (the session expired): nothing changes, but the text typed
                # is kept for the issue page, which is where signing in again leads
                _keep_input(request, signed_out=True)
                target = reverse("editor-issue", args=[kwargs["volume"], kwargs["number"]])
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


def _renumbered_from(volume: int, number: int) -> Issue | None:
    """The issue that was numbered ``volume.number`` before an editor changed its number, if any."""
    by_issue: dict[int, list] = {}
    for edit in IssueEdit.objects.filter(action=IssueEdit.Action.FIELDS).order_by("-at", "-id"):
        by_issue.setdefault(edit.issue_id, []).append(edit.detail or {})
    for issue in Issue.objects.filter(pk__in=by_issue):
        address = (str(issue.volume), str(issue.number))
        for detail in by_issue[issue.pk]:  # newest first: undo each change of number
            address = (detail.get("volume", {}).get("before", address[0]),
                       detail.get("number", {}).get("before", address[1]))
            if address == (str(volume), str(number)):
                return issue
    return None


TEST_ADDRESS_KEPT = "editor_test_address"
KEPT_INPUT = "editor_kept_input"
KEPT_FIELDS = ("-headline", "-summary_markdown", "-base", "urls", "intro", "date", "volume", "number",
               "image_alt", "image_credit", "image_credit_url")
KEPT_MAX_CHARS = 60_000  # what one form can hold; a POST can be far larger, a session need not be


def _keep_input(request, signed_out: bool = False) -> None:
    """Keep what an editor typed into a form whose save was refused, for the page they return to.

    Signed out, it is kept only in a session the browser already had (an
    expired sign-in), never in a new one an anonymous POST would make.
    """
    if signed_out and not request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        return
    fields, size = {}, 0
    for name, value in request.POST.items():
        if name.endswith(KEPT_FIELDS) and size + len(value) <= KEPT_MAX_CHARS:
            fields[name] = value
            size += len(value)
    if fields:
        request.session[KEPT_INPUT] = {"fields": fields, "signed_out": signed_out}


def _kept_input(request) -> dict:
    kept = request.session.pop(KEPT_INPUT, None) or {}
    if kept.get("signed_out"):
        messages.info(request, "You were signed out before your change was saved; what you typed is kept "
                               "in its form below: check it and save again.")
    return kept.get("fields") or {}


def _back(issue: Issue, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("editor-issue", args=[issue.volume, issue.number]) + (f"#{anchor}" if anchor else "")
    return HttpResponseRedirect(url, status=303)


# ---------------------------------------------------------------- accounts ---

class RateLimitedLoginView(auth_views.LoginView):
    """Django's sign-in, refusing an address and name after too many failures (:mod:`.ratelimit`)."""

    template_name = "digest_editor/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        from alliance_digest.editor import ratelimit

        if ratelimit.locked(request, request.POST.get("username", "")):
            context = self.get_context_data(form=self.get_form_class()(request), locked=ratelimit.MESSAGE)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        from alliance_digest.editor import ratelimit

        ratelimit.succeeded(self.request, form.cleaned_data.get("username", ""))
        return super().form_valid(form)

    def form_invalid(self, form):
        from alliance_digest.editor import ratelimit

        username = self.request.POST.get("username", "")
        ratelimit.failed(self.request, username)
        if ratelimit.locked(self.request, username):
            return self.render_to_response(self.get_context_data(form=form, locked=ratelimit.MESSAGE),
                                           status=429)
        return super().form_invalid(form)


login = with_csp(RateLimitedLoginView.as_view())
logout = with_csp(require_POST(auth_views.LogoutView.as_view()))


# --------------------------------------------------------------- dashboard ---

def _counts(issue: Issue, profile) -> dict:
    from alliance_digest.services import issue_window, window_articles

    in_window = Article.objects.filter(window_articles(issue_window(issue)))
    last = issue.edits.filter(action=IssueEdit.Action.REDRAFTED).first()
    drafted_at = last.at if last else issue.created_at
    # what came in since, but not what the editors pasted into the issue themselves
    arrived = in_window.filter(ingested_at__gt=drafted_at).exclude(stories__issue=issue)
    return {
        "articles": in_window.count(),
        "relevant": in_window.filter(relevance__gte=profile.topic.threshold).count(),
        "stories": issue.stories.filter(selected=True).count(),
        "candidates": issue.stories.filter(selected=False).count(),
        "drafted_at": drafted_at,
        "arrived": arrived.count(),
        "arrived_relevant": arrived.filter(relevance__gte=profile.topic.threshold).count(),
    }


EDITS_SHOWN = 10  # approved issues the dashboard's "Drafts and the editors" counts


@require_GET
@editor_required
def dashboard(request):
    profile = _profile()
    draft = Issue.objects.filter(status=Issue.Status.DRAFT).order_by("-volume", "-number").first()
    recent = list(Issue.objects.order_by("-volume", "-number")[:12])
    for issue in recent:
        issue.label = profile.numbering.label(issue.volume, issue.number)
    from alliance_digest import edits, learning

    approved = edits.recent(EDITS_SHOWN)
    total = edits.total(approved)
    context = {"profile": profile, "draft": draft, "recent": recent, "sources": source_health(),
               "learning": learning.status(profile),
               "edits": {"issues": len(approved), "total": total,
                         "share": round(100 * total.machine_share) if total.stories else None}}
    if draft is not None:
        context["draft_label"] = profile.numbering.label(draft.volume, draft.number)
        context["counts"] = _counts(draft, profile)
        context["last_edit"] = draft.edits.first()
    return render(request, "digest_editor/dashboard.html", context)


def source_health() -> dict:
    """The sources, paused and failing ones first (``sources.health_summary``), in plain words."""
    from alliance_digest.sources import health_summary

    words = {"ok": "ok", "new": "not read yet", "paused": "paused", "disabled": "switched off"}
    rows = []
    for row in health_summary():
        state = row["state"]
        failing = state in ("paused", "failing")
        problem = (row["paused_reason"] or row["last_error"]) if state == "paused" else row["last_error"]
        rows.append({"name": row["name"], "url": row["url"], "failing": failing,
                     "state": words.get(state, f"failing ({row['consecutive_failures']} in a row)"),
                     "last_success": row["last_success_at"], "last_attempt": row["last_attempt_at"],
                     "problem": " ".join((problem or "").split())[:300]})
    return {"rows": rows, "failing": sum(r["failing"] for r in rows), "total": len(rows)}


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


def _story_view(story, editable: bool, kept: dict | None = None) -> dict:
    from alliance_digest.render import markdown_html, safe_url

    links = sorted(story.storyarticle_set.all(), key=lambda link: link.position)
    editable_links = editable and len(links) > 1
    view = {
        "id": story.pk, "selected": story.selected, "position": story.position, "headline": story.headline,
        "summary_html": markdown_html(story.summary_markdown), "score": story.score,
        "reasons": _reasons(story),
        "sources": [{"source": link.article.source, "title": link.article.title, "article_id": link.article_id,
                     "href": safe_url(link.article.url), "published": link.article.published}
                    for link in links],
        "splittable": editable_links,
        "new": bool((story.reasons or {}).get("new_in_redraft")),
        "below_bar": bool((story.reasons or {}).get("below_bar")),
    }
    if editable and story.selected:
        prefix = f"s{story.pk}"
        mine = {name: value for name, value in (kept or {}).items() if name.startswith(prefix + "-")}
        if mine:  # the editor's refused text, as typed, with what was wrong
            # the page shows the story as it is now: saving from here builds on that
            mine[prefix + "-base"] = actions.text_version(story.headline, story.summary_markdown)
            view["form"], view["open"] = StoryForm(mine, prefix=prefix), True
            view["form"].is_valid()
        else:
            view["form"] = StoryForm(prefix=prefix, initial={
                "headline": story.headline, "summary_markdown": story.summary_markdown,
                "base": actions.text_version(story.headline, story.summary_markdown)})
    return view


@require_GET
@editor_required
def issue_page(request, volume: int, number: int):
    from alliance_digest.render.email import subject_line
    from alliance_digest.services import issue_data

    profile = _profile()
    issue = Issue.objects.filter(volume=volume, number=number).first()
    if issue is None:
        renumbered = _renumbered_from(volume, number)  # an old tab or bookmark after "Issue details"
        if renumbered is None:
            raise Http404("no such issue")
        return redirect("editor-issue", renumbered.volume, renumbered.number)
    editable = issue.status == Issue.Status.DRAFT
    stories = list(issue.stories.prefetch_related("storyarticle_set__article").order_by("position", "id"))
    kept = _kept_input(request) if editable else {}
    selected = [_story_view(s, editable, kept) for s in stories if s.selected]
    candidates = [_story_view(s, editable) for s in stories if not s.selected]
    for k, story in enumerate(selected):
        story["first"], story["last"] = k == 0, k == len(selected) - 1
    data = issue.frozen or issue_data(issue, profile)
    context = {"issue_data": data}
    context.update(_history(issue, editable))
    if editable:
        context.update(_edit_forms(issue, stories, kept))
    else:
        from alliance_digest.editor import sending

        from alliance_digest.delivery import placeholder_warnings

        context["send"] = {"progress": sending.progress(profile, issue), "recipients": sending.recipients(issue),
                           "running": sending.running(issue), "warnings": placeholder_warnings(profile)}
    return render(request, "digest_editor/issue.html", {**context,
        "profile": profile, "issue": issue, "label": profile.numbering.label(issue.volume, issue.number),
        "editable": editable, "selected": selected, "candidates": candidates,
        "counts": _counts(issue, profile), "subject": subject_line(data, profile),
        "test_form": TestSendForm(initial={"email": request.session.pop(TEST_ADDRESS_KEPT, None)
                                                    or request.user.email}),
        "permalink": _public_link(profile, issue),
    })


HISTORY_SHOWN = 100


def _history(issue: Issue, editable: bool) -> dict:
    """The history's lines; those that kept a version can be restored (all but the current one)."""
    edits = list(issue.edits.defer("snapshot").all()[:HISTORY_SHOWN])
    versioned = set(issue.edits.filter(snapshot__isnull=False).values_list("pk", flat=True))
    current = next((e.pk for e in edits if e.pk in versioned), None)
    history = [{"id": e.pk, "who": e.username or ("digest" if e.action in ("drafted", "redrafted") else "?"), "at": e.at,
                "what": actions.describe(e), "action": e.action, "current": e.pk == current,
                "restorable": editable and e.pk in versioned and e.pk != current} for e in edits]
    return {"history": history}


def _edit_forms(issue: Issue, stories, kept: dict | None = None) -> dict:
    """What the draft editor's forms need: the stories to merge, the images to choose, the issue's fields."""
    from alliance_digest.render import safe_url

    images = []
    for link in actions.image_choices(issue):
        article = link.article
        images.append({"article_id": article.pk, "src": safe_url(article.image_url), "alt": article.image_alt or "",
                       "source": article.source, "story": link.story.headline, "selected": link.story.selected,
                       "current": article.image_url == issue.image_url})
    return {
        "all_stories": [{"id": s.pk, "headline": s.headline, "selected": s.selected, "position": s.position}
                        for s in sorted(stories, key=lambda s: (not s.selected, s.position, s.pk))],
        "images": images, "image_current_src": safe_url(issue.image_url) if issue.image_url else "",
        "credit_form": (CreditForm({name: kept.get(name, "") for name in ("image_alt", "image_credit",
                                                                      "image_credit_url")})
                        if kept and "image_credit" in kept else
                        CreditForm(initial={"image_alt": issue.image_alt, "image_credit": issue.image_credit,
                                            "image_credit_url": issue.image_credit_url})),
        "fields_form": (IssueFieldsForm({name: kept[name] for name in ("date", "volume", "number", "intro")
                                         if name in kept}) if kept and "intro" in kept else
                        IssueFieldsForm(initial={"date": issue.date, "volume": issue.volume,
                                                 "number": issue.number, "intro": issue.intro})),
        "paste_form": PasteUrlsForm({"urls": kept["urls"]}) if kept and "urls" in kept else PasteUrlsForm(),
        "write_form": _kept_form(WriteStoryForm, "new", kept),
        "write_open": any(name.startswith("new-") for name in kept or {}),
    }


def _kept_form(form_class, prefix: str, kept: dict | None):
    mine = {name: value for name, value in (kept or {}).items() if name.startswith(prefix + "-")}
    return form_class(mine, prefix=prefix) if mine else form_class(prefix=prefix)


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
        _keep_input(request)
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
        messages.error(request, str(exc))  # the page reloads to the order as it is, and says why
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
                               form.cleaned_data["summary_markdown"], request.user, form.cleaned_data["base"])
        saved = "Saved." if changed else "Nothing changed."
        story = Story.objects.filter(pk=story_id, issue=issue).only("selected", "position").first()
        if story is not None and not story.selected:  # dropped by someone meanwhile: it will not run as it is
            saved += (f" This story is now candidate {story.position}, not in the issue: "
                      "include it to run it.")
        return saved
    return _act(request, volume, number, do, anchor=f"story-{story_id}")


@require_POST
@editor_required
def redraft(request, volume: int, number: int):
    """Draft the issue again from its window's coverage now, keeping the editors' work."""
    from alliance_digest import services

    def do(issue):
        actions.check_draft(issue)
        try:
            services.draft_issue(_profile(), services.issue_window(issue), replace=True, user=request.user)
        except services.ServiceError as exc:
            raise actions.EditError(str(exc)) from None
        done = issue.edits.filter(action=IssueEdit.Action.REDRAFTED).first()
        return actions._sentence(actions.redraft_summary(done.detail)) + " The version before is in the history."
    return _act(request, volume, number, do, anchor="candidates")


@require_POST
@editor_required
def approve(request, volume: int, number: int):
    def do(issue):
        issue = actions.approve(_profile(), issue, request.user)
        return (f"Approved issue {issue.key}: its content is frozen. Publish it and send it to the subscribers "
                "below (or with `digest publish` and `digest send`).")
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
        request.session[TEST_ADDRESS_KEPT] = request.POST.get("email", "")[:320]  # to correct, not retype
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
def merge(request, volume: int, number: int):
    def do(issue):
        target, absorbed = actions.merge(_profile(), issue, request.POST.get("target"),
                                         request.POST.get("absorbed"), request.user)
        return f"Merged “{absorbed.headline}” into “{target.headline}”."
    return _act(request, volume, number, do, anchor=f"story-{request.POST.get('target', '')}")


@require_POST
@editor_required
def split(request, volume: int, number: int, story_id: int):
    def do(issue):
        new = actions.split(_profile(), issue, story_id, request.POST.getlist("articles"), request.user)
        kept = ("The story they left was drafted again from the articles it keeps." if new.redrafted else
                "The story they left keeps the text an editor wrote: check it no longer cites them.")
        return f"Split into the new candidate “{new.headline}” (candidate {new.position}). {kept}"
    return _act(request, volume, number, do, anchor=f"story-{story_id}")


@require_POST
@editor_required
def add_urls(request, volume: int, number: int):
    form = PasteUrlsForm(request.POST)
    issue = _issue(volume, number)
    try:
        if not form.is_valid():
            actions.check_draft(issue)
            raise actions.EditError(f"Not added: {form_problems(form)}")
        story, refused = actions.add_from_urls(_profile(), issue, form.cleaned_data["urls"], request.user)
    except actions.EditError as exc:
        messages.error(request, str(exc))
        _keep_input(request)
        return _back(issue, "add")
    for line in refused:
        messages.error(request, line)
    if story is None:
        messages.error(request, "No story added: none of the URLs could be read.")
        _keep_input(request)
        return _back(issue, "add")
    messages.success(request, f"Added “{story.headline}” as story {story.position}.")
    return _back(issue, f"story-{story.pk}")


@require_POST
@editor_required
def write(request, volume: int, number: int):
    form = WriteStoryForm(request.POST, prefix="new")

    def do(issue):
        actions.check_draft(issue)
        if not form.is_valid():
            raise actions.EditError(f"Not added: {form_problems(form)}")
        story = actions.write_story(issue, form.cleaned_data["headline"], form.cleaned_data["summary_markdown"],
                                    request.user)
        return f"Added “{story.headline}” as story {story.position}."
    return _act(request, volume, number, do, anchor="add")


@require_POST
@editor_required
def image(request, volume: int, number: int):
    def do(issue):
        url = actions.choose_image(issue, request.POST.get("image", ""), request.user)
        if request.POST.get("image") == actions.AUTOMATIC:
            return "The lead image follows the top story again."
        return "Lead image chosen." if url else "The issue has no lead image now."
    return _act(request, volume, number, do, anchor="image")


@require_POST
@editor_required
def credit(request, volume: int, number: int):
    form = CreditForm(request.POST)

    def do(issue):
        actions.check_draft(issue)
        if not form.is_valid():
            raise actions.EditError(f"Not saved: {form_problems(form)}")
        data = form.cleaned_data
        changed = actions.edit_credit(issue, data["image_alt"], data["image_credit"], data["image_credit_url"],
                                      request.user)
        return "Image credit saved." if changed else "Nothing changed."
    return _act(request, volume, number, do, anchor="image")


@require_POST
@editor_required
def fields(request, volume: int, number: int):
    form = IssueFieldsForm(request.POST)
    issue = _issue(volume, number)
    try:
        actions.check_draft(issue)
        if not form.is_valid():
            raise actions.EditError(f"Not saved: {form_problems(form)}")
        data = form.cleaned_data
        issue = actions.edit_fields(issue, data["date"], data["volume"], data["number"], data["intro"],
                                    request.user)
    except actions.EditError as exc:
        messages.error(request, str(exc))
        _keep_input(request)
    else:
        messages.success(request, "Issue details saved.")
    return _back(issue, "fields")  # the issue's address follows its (possibly new) number


@require_POST
@editor_required
def restore(request, volume: int, number: int):
    issue = _issue(volume, number)
    try:
        version = actions.restore(issue, request.POST.get("version"), request.user)
    except actions.EditError as exc:
        messages.error(request, str(exc))
    else:
        issue = Issue.objects.get(pk=issue.pk)
        messages.success(request, f"Restored the version of {timezone.localtime(version.at):%Y-%m-%d %H:%M:%S %Z} "
                                  "(this too can be undone from the history).")
    return _back(issue, "history")


@require_POST
@editor_required
def send(request, volume: int, number: int):
    """Start the email delivery of an approved issue in the background (``digest send``)."""
    from alliance_digest.editor import sending

    def do(issue):
        if request.POST.get("confirm") != "yes":
            raise actions.EditError("Not sent: tick the box to confirm the send.")
        count = sending.start(_profile(), issue, request.user)
        return f"Sending issue {issue.key} to {count} subscriber(s); progress below."
    return _act(request, volume, number, do, anchor="send")


@require_GET
@editor_required
def send_progress(request, volume: int, number: int):
    """The send's progress panel (an HTML fragment; htmx polls it while the send runs)."""
    from alliance_digest.editor import sending

    issue = _issue(volume, number)
    profile = _profile()
    return render(request, "digest_editor/_send_progress.html", {
        "issue": issue, "progress": sending.progress(profile, issue), "polled": True})


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
    if kind not in ("web", "email", "text", "pdf"):
        raise Http404("no such preview")
    if kind == "pdf":
        return _pdf_preview(issue, _profile())
    content_type, body = preview_parts(issue, _profile(), kind)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Security-Policy"] = PREVIEW_CSP
    return response


def _pdf_preview(issue: Issue, profile) -> HttpResponse:
    """The PDF edition as it would be rendered now (its lead image read within the PDF's time limit)."""
    from alliance_digest import delivery
    from alliance_digest.render.pdf import PdfUnavailable, lead_image_loader, render_pdf

    try:
        pdf, notes = render_pdf(delivery.content_of(issue, profile), lead_image_loader(profile))
    except PdfUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="issue-{issue.volume}-{issue.number}.pdf"'
    if notes:
        response["X-Digest-Notes"] = "; ".join(notes).encode("ascii", "replace").decode()[:500]
    return response


# ---------------------------------------------------------------- vendored ---

VENDORED = {"htmx-2.0.11.min.js": "text/javascript; charset=utf-8"}


@require_GET
def vendored(request, name: str):
    """The editor's vendored scripts (see static/digest_editor/VENDORED.md), cacheable for a year:
    the version is in the name. Served here so that no static-files setup is needed."""
    from pathlib import Path

    if name not in VENDORED:
        raise Http404("no such file")
    body = (Path(__file__).parent / "static" / "digest_editor" / name).read_bytes()
    response = HttpResponse(body, content_type=VENDORED[name])
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
