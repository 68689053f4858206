from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "alliance_digest.db"
    label = "digest"
    verbose_name = "Alliance Digest"
    default_auto_field = "django.db.models.BigAutoField"
