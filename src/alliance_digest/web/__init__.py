"""The public subscription pages: subscribe, confirm (double opt-in) and unsubscribe.

Thin views over :mod:`alliance_digest.subscribers`; templates in
``templates/digest_web/`` (the confirmation email's too).
"""
