"""URL configuration: the admin and the public subscription pages; the editors' app mounts here later."""

from django.contrib import admin
from django.urls import path, re_path

from alliance_digest.web import views as web

urlpatterns = [
    path("admin/", admin.site.urls),
    path("subscribe/", web.subscribe, name="subscribe"),
    # The trailing slash is optional so that a POST to the link without it still works
    # (APPEND_SLASH would redirect it, and a redirected POST loses its body).
    re_path(r"^confirm/(?P<token>[^/]+)/?$", web.confirm, name="confirm"),
    re_path(r"^unsubscribe/(?P<token>[^/]+)/?$", web.unsubscribe, name="unsubscribe"),
]
