"""Public pages: ``subscribe/``, ``confirm/<token>/``, ``unsubscribe/<token>/``.

- The subscribe form is CSRF-protected and answers the same whatever the
  address's state (no enumeration); POSTs are limited per client address.
- Confirm and unsubscribe links are authorised by their signed token, not
  by a cookie, so they need no CSRF token (RFC 8058 one-click: the mail
  provider POSTs ``List-Unsubscribe=One-Click`` and nothing else). A GET
  only shows a button (mail scanners follow links); the POST acts.
- A bad, expired or foreign token: a page saying so, status 400, nothing changed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from alliance_digest import subscribers, tokens
from alliance_digest.mailer import MailError
from alliance_digest.profile import PROFILE_NAME, load_profile
from alliance_digest.web.forms import SubscribeForm

log = logging.getLogger(__name__)

RATE_LIMIT = 10  # subscribe POSTs per client address...
RATE_WINDOW = 3600  # ...per this many seconds
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

_profile_cache: dict = {}


def current_profile():
    """The workspace's profile (``$DIGEST_HOME/digest.toml``), re-read when the file changes."""
    path = Path(os.environ.get("DIGEST_HOME") or settings.HOME) / PROFILE_NAME
    stamp = (str(path), path.stat().st_mtime_ns)
    if _profile_cache.get("stamp") != stamp:
        _profile_cache.update(stamp=stamp, profile=load_profile(path))
    return _profile_cache["profile"]


class DigestTimeZoneMiddleware:
    """Shows times in the profile's ``[digest] time_zone``, as it is now (the file may change while serving)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import timezone

        try:
            timezone.activate(current_profile().zone)
        except Exception:  # an unreadable profile: its own pages say so; times stay in TIME_ZONE
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or with ``DIGEST_TRUSTED_PROXIES = n`` the n-th from the
    right of X-Forwarded-For (only trust what your own proxies add)."""
    proxies = int(getattr(settings, "DIGEST_TRUSTED_PROXIES", 0) or 0)
    ip = request.META.get("REMOTE_ADDR") or None
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            ip = forwarded[-proxies]
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_ipv46_address

    try:
        validate_ipv46_address(ip or "")
    except ValidationError:
        return None
    return ip


def _page(request, template: str, context: dict, status: int = 200):
    profile = context.pop("profile", None) or current_profile()
    context = {"title": profile.title, "subscribe_url": reverse("subscribe"), **context}
    response = render(request, f"digest_web/{template}", context, status=status)
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "no-referrer"  # the URL may hold a token
    response["X-Robots-Tag"] = "noindex, nofollow"
    add_never_cache_headers(response)
    return response


def _bad_link(request, message: str):
    return _page(request, "bad_link.html", {"message": message}, status=400)


def _rate_limited(request) -> bool:
    key = f"digest:subscribe-rate:{client_ip(request) or 'unknown'}"
    cache.add(key, 0, RATE_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RATE_WINDOW)
        count = 1
    return count > RATE_LIMIT


@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request):
    profile = current_profile()
    if request.method != "POST":
        return _page(request, "subscribe.html", {"form": SubscribeForm(), "profile": profile})
    if _rate_limited(request):
        return _page(request, "too_many.html", {"profile": profile}, status=429)
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return _page(request, "subscribe.html", {"form": form, "profile": profile}, status=400)
    if not form.cleaned_data.get("website"):
        try:
            subscribers.sign_up(profile, form.cleaned_data["email"], form.cleaned_data["name"], client_ip(request))
        except MailError as exc:  # logged for the operator; the visitor sees the same page either way
            log.error("%s", exc)
    return _page(request, "check_inbox.html", {"profile": profile, "hours": _hours(profile)})


def _hours(profile):
    hours = profile.email.confirm_hours
    return int(hours) if float(hours).is_integer() else hours


@csrf_exempt  # authorised by the signed token in the URL, not by a cookie
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token: str):
    from alliance_digest.db.models import Subscriber

    profile = current_profile()
    try:
        subscriber = tokens.subscriber_for_confirm(token, profile.email.confirm_hours)
    except tokens.BadToken as exc:
        return _bad_link(request, _sentence(str(exc)))
    if request.method == "POST":
        try:
            subscribers.confirm(subscriber)
        except subscribers.NotPending:
            return _bad_link(request, "This confirmation link is no longer valid. Please sign up again.")
        return _page(request, "confirmed.html", {"profile": profile, "email": subscriber.email})
    if subscriber.status == Subscriber.Status.ACTIVE:
        return _page(request, "confirmed.html", {"profile": profile, "email": subscriber.email})
    if subscriber.status != Subscriber.Status.PENDING:
        return _bad_link(request, "This confirmation link is no longer valid. Please sign up again.")
    return _page(request, "confirm.html", {"profile": profile, "email": subscriber.email})


@csrf_exempt  # RFC 8058 one-click: the provider's POST carries no CSRF token; the signed token authorises it
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    from alliance_digest.db.models import Subscriber

    try:
        subscriber = tokens.subscriber_for_unsubscribe(token)
    except tokens.BadToken as exc:
        return _bad_link(request, _sentence(str(exc)))
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        subscribers.unsubscribe(subscriber, how="one-click" if one_click else "web page")
        return _page(request, "unsubscribed.html", {"email": subscriber.email})
    if subscriber.status in (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.COMPLAINED):
        return _page(request, "unsubscribed.html", {"email": subscriber.email, "already": True})
    return _page(request, "unsubscribe.html", {"email": subscriber.email})


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "."
