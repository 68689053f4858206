"""URL configuration: the admin, the public archive and subscription pages, the editors' app and their sign-in pages."""

from django.contrib import admin
from django.urls import include, path, re_path

from alliance_digest.editor import urls as editor_urls
from alliance_digest.editor import views as editor_views
from alliance_digest.web import public
from alliance_digest.web import views as web

handler403 = "alliance_digest.web.public.forbidden"
handler404 = "alliance_digest.web.public._not_found"
handler500 = "alliance_digest.web.public.server_error"

urlpatterns = [
    # the admin signs in through the editors' sign-in page, so the same attempt limit applies
    path("admin/login/", editor_views.login, name="admin-login"),
    path("admin/", admin.site.urls),
    # The public archive: published issues only, their frozen content.
    path("", public.archive, name="home"),
    path("issues/", public.archive, name="archive"),
    path("issues/page/<int:page>/", public.archive, name="archive-page"),  # older issues; page 1 is issues/
    path("issues/<int:volume>-<int:number>/", public.issue_page, name="issue"),
    path("issues/<int:volume>-<int:number>.pdf", public.issue_pdf, name="issue-pdf"),
    path("feed.atom", public.feed, name="feed"),
    path("favicon.ico", public.favicon, name="favicon"),
    path("editor/", include(editor_urls)),
    path("accounts/", include(editor_urls.account_patterns)),
    path("subscribe/", web.subscribe, name="subscribe"),
    # The trailing slash is optional so that a POST to the link without it still works
    # (APPEND_SLASH would redirect it, and a redirected POST loses its body).
    re_path(r"^confirm/(?P<token>[^/]+)/?$", web.confirm, name="confirm"),
    re_path(r"^unsubscribe/(?P<token>[^/]+)/?$", web.unsubscribe, name="unsubscribe"),
]
