"""Sign-in attempts are limited: a password cannot be guessed by trying many.

Failed attempts are counted per client address and user name (5 per 15
minutes), and per address alone (30 per 15 minutes, against trying many
names). Counts live in Django's cache, which settings put in the database so
that the limit holds across web workers. A success clears the count for that
name.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 30
WINDOW = 15 * 60  # seconds
MESSAGE = ("Too many failed sign-in attempts from your address. For your account's safety, "
           f"sign-in is blocked for {WINDOW // 60} minutes; try again later.")


def _keys(request, username: str) -> tuple[str, str]:
    from alliance_digest.web.views import client_ip

    ip = client_ip(request) or "unknown"
    name = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:24]
    return f"digest:login-fail:{ip}:{name}", f"digest:login-fail:{ip}"


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def locked(request, username: str) -> bool:
    account, address = _keys(request, username)
    return _count(account) >= FAILURES_PER_ACCOUNT or _count(address) >= FAILURES_PER_ADDRESS


def failed(request, username: str) -> None:
    for key in _keys(request, username):
        cache.add(key, 0, WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, WINDOW)


def succeeded(request, username: str) -> None:
    cache.delete(_keys(request, username)[0])
