"""Django settings for a workspace. The CLI sets ``DIGEST_HOME`` before setup.

The database is SQLite (WAL) inside the workspace unless ``DIGEST_DATABASE_URL``
(or ``[database] url`` in ``digest.toml``) names another, e.g.
``postgres://user:pass@host/db``: PostgreSQL works through configuration alone.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

import dj_database_url

HOME = Path(os.environ.get("DIGEST_HOME", ".")).resolve()


def _profile_setting(section: str, key: str) -> str | None:
    """One setting of the workspace's ``digest.toml`` (checked properly later, by ``profile.load_profile``)."""
    try:
        data = tomllib.loads((HOME / "digest.toml").read_text("utf-8-sig"))
    except (OSError, UnicodeError, tomllib.TOMLDecodeError):
        return None
    value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
    return str(value) if value else None


def _profile_database_url() -> str | None:
    return _profile_setting("database", "url")


def _origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, else None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit((url or "").strip())
        parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _secret_key() -> str:
    if os.environ.get("DIGEST_SECRET_KEY"):
        return os.environ["DIGEST_SECRET_KEY"]
    path = HOME / "secret_key"
    try:
        return path.read_text().strip()
    except OSError:
        if not HOME.is_dir():
            return "unconfigured-" + secrets.token_urlsafe(32)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DIGEST_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DIGEST_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
# Behind n reverse proxies of your own, the client's address is the n-th from the right of
# X-Forwarded-For (used for the subscribe form's rate limit and the consent record).
DIGEST_TRUSTED_PROXIES = int(os.environ.get("DIGEST_TRUSTED_PROXIES", "0") or 0)
# Behind a TLS proxy (the production set-up) Django sees plain http unless told: the proxy's
# X-Forwarded-Proto then says whether the browser used https, so that secure cookies, absolute
# links and the CSRF check (the browser's Origin is https://...) agree with the browser.
if DIGEST_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Forms posted from the public site and the editors' app (their origins in digest.toml) pass the
# CSRF origin check even when the proxy does not forward the scheme; more with DIGEST_CSRF_TRUSTED_ORIGINS.
CSRF_TRUSTED_ORIGINS = sorted({origin for origin in (
    [_origin(_profile_setting("digest", "site_url")), _origin(_profile_setting("run", "editor_url"))]
    + [_origin(u) for u in os.environ.get("DIGEST_CSRF_TRUSTED_ORIGINS", "").split(",")]) if origin})

# A server error's traceback goes to stderr (the service's journal) whatever DEBUG says:
# Django's default sends it only to ADMINS by email, which a workspace does not set.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "alliance_digest.db",
    "alliance_digest.web",
    "alliance_digest.editor",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "alliance_digest.web.views.DigestTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "alliance_digest.urls"
# A form posted without its CSRF cookie or token: a page in the site's design, in plain words.
CSRF_FAILURE_VIEW = "alliance_digest.web.public.csrf_failure"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

_db_url = os.environ.get("DIGEST_DATABASE_URL") or _profile_database_url()
if _db_url:
    DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=60)}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(HOME / "digest.sqlite3"),
        "OPTIONS": {
            # WAL lets the web app read while an ingest writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
        },
    }}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True


def _time_zone() -> str:
    """The digest's ``[digest] time_zone`` (checked with its one-line error by ``profile.load_profile``)."""
    from zoneinfo import ZoneInfo

    name = (_profile_setting("digest", "time_zone") or "UTC").strip()
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError is a KeyError; a bad name must not stop the server (or the CLI
        return "UTC"   # before it can say what is wrong in one line)
    return name


# Times people read (the editors' app, the CLI, editors' emails) are in the digest's zone;
# the database stores UTC. The web app follows edits of the profile per request
# (``alliance_digest.web.views.DigestTimeZoneMiddleware``).
TIME_ZONE = _time_zone()
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

# ---- editors' accounts and the browser's protections (issue 5) ----
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/editor/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600  # an editor signs in again after half a day
# Pages read the CSRF token from the form (the editor's scripts too), never from the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# Behind HTTPS in production set DIGEST_SECURE_COOKIES=1: cookies are then never sent over plain HTTP.
_SECURE_COOKIES = os.environ.get("DIGEST_SECURE_COOKIES") == "1"
SESSION_COOKIE_SECURE = _SECURE_COOKIES
CSRF_COOKIE_SECURE = _SECURE_COOKIES
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Rate limits (sign-in, subscribe) must hold across processes (several gunicorn workers, `digest serve`
# next to a CLI): the cache lives in the workspace's database, table created by migration 0006.
CACHES = {"default": {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "digest_cache",
    "OPTIONS": {"MAX_ENTRIES": 20000},
}}
