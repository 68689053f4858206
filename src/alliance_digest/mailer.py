"""Email connections from the profile's ``[email]`` settings.

``email_connection(profile)`` returns an open-able Django email connection
(``connection.send_messages([...])``, or pass it as ``connection=`` to an
``EmailMessage``):

- ``backend = "smtp"``: Django's SMTP backend with ``smtp_host``,
  ``smtp_port``, ``smtp_security`` (``starttls`` -> STARTTLS, ``tls`` -> TLS
  from the first byte, ``none`` -> plain), ``smtp_user`` and the password read
  from the environment variable named by ``smtp_password_env``;
- ``console``, ``locmem``, ``file``, ``dummy``: Django's backends of those
  names (for trying things out);
- any other value: a dotted Django email backend, e.g. django-anymail's
  ``anymail.backends.amazon_ses.EmailBackend``, given the ``[email.anymail]``
  table as keyword arguments (a key ending in ``_env`` names an environment
  variable: ``api_key_env = "MAILGUN_KEY"`` passes ``api_key`` from it).
"""

from __future__ import annotations

import os

SHORT_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SMTP_TIMEOUT = 30  # seconds; Django's default is to wait forever


class MailError(Exception):
    """A message could not be handed to the mail server or service."""


def backend_path(profile) -> str:
    backend = profile.email.backend.strip() or "smtp"
    if backend == "smtp":
        return SMTP_BACKEND
    return SHORT_BACKENDS.get(backend, backend)


def backend_options(profile) -> dict:
    """Keyword arguments for the backend named by the profile (the SMTP password included)."""
    email = profile.email
    if backend_path(profile) == SMTP_BACKEND:
        return {
            "host": email.smtp_host,
            "port": email.smtp_port,
            "username": email.smtp_user,
            "password": os.environ.get(email.smtp_password_env, "") if email.smtp_password_env else "",
            "use_tls": email.smtp_security == "starttls",
            "use_ssl": email.smtp_security == "tls",
            "timeout": SMTP_TIMEOUT,
        }
    if email.backend.strip() in SHORT_BACKENDS:
        return {}
    options = {}
    for key, value in (email.anymail or {}).items():
        if key.endswith("_env") and isinstance(value, str):
            options[key[:-4]] = os.environ.get(value, "")
        else:
            options[key] = value
    return options


def email_connection(profile, fail_silently: bool = False, **overrides):
    """A Django email connection configured by ``profile.email`` (not yet opened)."""
    from django.core.mail import get_connection

    options = backend_options(profile)
    options.update(overrides)
    try:
        return get_connection(backend_path(profile), fail_silently=fail_silently, **options)
    except ImportError as exc:
        raise MailError(f"email backend {profile.email.backend!r} cannot be loaded: {exc}") from None
