"""``/editor/...`` (mounted by :mod:`alliance_digest.urls`) and ``account_patterns`` for ``/accounts/...``."""

from django.urls import path

from alliance_digest.editor import views

ISSUE = "issues/<int:volume>-<int:number>/"

urlpatterns = [
    path("", views.dashboard, name="editor-dashboard"),
    path(ISSUE, views.issue_page, name="editor-issue"),
    path(ISSUE + "stories/<int:story_id>/include/", views.include, name="editor-include"),
    path(ISSUE + "stories/<int:story_id>/drop/", views.drop, name="editor-drop"),
    path(ISSUE + "stories/<int:story_id>/move/", views.move, name="editor-move"),
    path(ISSUE + "stories/<int:story_id>/edit/", views.edit, name="editor-edit"),
    path(ISSUE + "reorder/", views.reorder, name="editor-reorder"),
    path(ISSUE + "redraft/", views.redraft, name="editor-redraft"),
    path(ISSUE + "approve/", views.approve, name="editor-approve"),
    path(ISSUE + "publish/", views.publish, name="editor-publish"),
    path(ISSUE + "send-test/", views.send_test, name="editor-send-test"),
    path(ISSUE + "preview/<str:kind>/", views.preview, name="editor-preview"),
    path(ISSUE + "stories/<int:story_id>/split/", views.split, name="editor-split"),
    path(ISSUE + "merge/", views.merge, name="editor-merge"),
    path(ISSUE + "add/urls/", views.add_urls, name="editor-add-urls"),
    path(ISSUE + "add/write/", views.write, name="editor-write"),
    path(ISSUE + "image/", views.image, name="editor-image"),
    path(ISSUE + "image/credit/", views.credit, name="editor-credit"),
    path(ISSUE + "fields/", views.fields, name="editor-fields"),
    path(ISSUE + "restore/", views.restore, name="editor-restore"),
    path(ISSUE + "send/", views.send, name="editor-send"),
    path(ISSUE + "send/progress/", views.send_progress, name="editor-send-progress"),
    path("markdown-preview/", views.markdown_preview, name="editor-markdown-preview"),
    path("static/<str:name>", views.vendored, name="editor-vendored"),
]

account_patterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
]
