"""WSGI entry point for production servers: set DIGEST_HOME and DIGEST_ALLOWED_HOSTS.

    DIGEST_HOME=/srv/alliance DIGEST_ALLOWED_HOSTS=digest.example.org \\
        gunicorn alliance_digest.wsgi --bind 127.0.0.1:8000
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_digest.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from alliance_digest.workspace import settle_heap  # noqa: E402

settle_heap()
