from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "alliance_digest.web"
    label = "digest_web"
    verbose_name = "Public subscription pages"
