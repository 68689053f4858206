from django.contrib import admin

from alliance_digest.db.models import Article, Issue, Story, StoryArticle


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "published", "relevance")
    list_filter = ("source",)
    search_fields = ("title", "canonical_url")


class StoryArticleInline(admin.TabularInline):
    model = StoryArticle
    raw_id_fields = ("article",)
    extra = 0


@admin.register(Story)
class StoryAdmin(admin.ModelAdmin):
    list_display = ("headline", "issue", "selected", "position", "score")
    list_filter = ("issue", "selected")
    inlines = [StoryArticleInline]


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    list_display = ("__str__", "date", "status")
