from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "alliance_digest.editor"
    label = "digest_editor"
    verbose_name = "Editors' web app"
