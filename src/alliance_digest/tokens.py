"""Signed tokens for the links in emails (Django's signing, keyed by SECRET_KEY).

- Unsubscribe tokens never expire (old issues' links must keep working) and
  name both the subscriber and the address, so a token cannot be forged or
  used for another address, and stops working if the address changes.
- Confirmation tokens (double opt-in) expire after ``email.confirm_hours``.
"""

from __future__ import annotations

from django.core import signing

UNSUBSCRIBE_SALT = "alliance-digest.unsubscribe"
CONFIRM_SALT = "alliance-digest.confirm"


class BadToken(Exception):
    """A link whose token is forged, tampered with, expired or for another address."""


def unsubscribe_token(subscriber) -> str:
    return signing.dumps({"s": subscriber.pk, "e": subscriber.email_normalized}, salt=UNSUBSCRIBE_SALT, compress=True)


def confirm_token(subscriber) -> str:
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object(
        {"s": subscriber.pk, "e": subscriber.email_normalized}, compress=True)


def _subscriber(data):
    from alliance_digest.db.models import Subscriber

    if not isinstance(data, dict):
        raise BadToken("malformed token")
    subscriber = Subscriber.objects.filter(pk=data.get("s")).first()
    if subscriber is None or subscriber.email_normalized != data.get("e"):
        raise BadToken("this link is not valid for any subscriber")
    return subscriber


def subscriber_for_unsubscribe(token: str):
    try:
        return _subscriber(signing.loads(token, salt=UNSUBSCRIBE_SALT))
    except signing.BadSignature:
        raise BadToken("this unsubscribe link is not valid") from None


def subscriber_for_confirm(token: str, max_age_hours: float):
    try:
        data = signing.TimestampSigner(salt=CONFIRM_SALT).unsign_object(token, max_age=max_age_hours * 3600)
    except signing.SignatureExpired:
        raise BadToken("this confirmation link has expired; please sign up again") from None
    except signing.BadSignature:
        raise BadToken("this confirmation link is not valid") from None
    return _subscriber(data)


def unsubscribe_url(profile, subscriber) -> str:
    return f"{profile.site_url.rstrip('/')}/unsubscribe/{unsubscribe_token(subscriber)}/"


def confirm_url(profile, subscriber) -> str:
    return f"{profile.site_url.rstrip('/')}/confirm/{confirm_token(subscriber)}/"
