import re

from django import forms


class StoryForm(forms.Form):
    headline = forms.CharField(max_length=500, strip=True)
    summary_markdown = forms.CharField(label="Summary (Markdown)", widget=forms.Textarea(attrs={"rows": 8}),
                                       strip=True, max_length=20000)
    # the text the editor started from (:func:`alliance_digest.editor.actions.text_version`):
    # a save over someone else's change made meanwhile is refused, not silently undone
    base = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean_headline(self):
        headline = " ".join(_visible(self.cleaned_data["headline"]).split())
        if not headline:
            raise forms.ValidationError("a headline needs words")
        return headline

    def clean_summary_markdown(self):
        return _markdown(self.cleaned_data["summary_markdown"])


class TestSendForm(forms.Form):
    email = forms.EmailField(label="Send a test email to", max_length=320)


class WriteStoryForm(StoryForm):
    """A story written by an editor: headline and Markdown summary, no articles."""


class PasteUrlsForm(forms.Form):
    urls = forms.CharField(label="Article URLs (one per line)", max_length=20000,
                           widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false",
                                                        "placeholder": "https://…"}))


class CreditForm(forms.Form):
    image_alt = forms.CharField(label="Alt text (what the image shows)", required=False, max_length=1000,
                                strip=True)
    image_credit = forms.CharField(label="Credit", required=False, max_length=300, strip=True)
    image_credit_url = forms.URLField(label="Credit link", required=False, max_length=2000,
                                      assume_scheme="https")

    def clean_image_credit_url(self):
        url = self.cleaned_data["image_credit_url"]
        if url and url.split(":", 1)[0].lower() not in ("http", "https"):
            raise forms.ValidationError("use an http(s) link")
        return url


class IssueFieldsForm(forms.Form):
    date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    volume = forms.IntegerField(label="Volume", min_value=1, max_value=100000)
    number = forms.IntegerField(label="Number", min_value=1, max_value=100000)
    intro = forms.CharField(label="Intro (Markdown, optional)", required=False, max_length=5000, strip=True,
                            widget=forms.Textarea(attrs={"rows": 3}))

    def clean_date(self):
        from datetime import date

        value = self.cleaned_data["date"]
        if not 1990 <= value.year <= date.today().year + 1:
            raise forms.ValidationError(f"{value.isoformat()} is not a plausible issue date")
        return value

    def clean_intro(self):
        return _markdown(self.cleaned_data["intro"])


def _visible(text: str) -> str:
    from alliance_digest.pipeline.text import drop_invisible

    return drop_invisible(text)


def _markdown(text: str) -> str:
    from alliance_digest.render import markdown_problem

    text = _visible(text.replace("\r\n", "\n"))
    problem = markdown_problem(text)
    if problem:
        raise forms.ValidationError(problem)
    if _IMAGE.search(text):
        raise forms.ValidationError("pictures inside a story's text are not shown (email clients block them); "
                                    "choose the issue's lead image under “Lead image” instead")
    for target in _LINK_TARGET.findall(text) + _REFERENCE_TARGET.findall(text):
        if not target.lower().startswith(("http://", "https://", "mailto:")):
            raise forms.ValidationError(f"link {target[:80]!r} is not a full address: write it as https://…, "
                                        "since the issue is read in email and on other sites")
    return text


_IMAGE = re.compile(r"!\[[^\]]*\]\(")
_LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")
_REFERENCE_TARGET = re.compile(r"(?m)^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)")  # [1]: https://...


def form_problems(form: forms.Form) -> str:
    """A form's errors as one line: ``Label: problem; ...``."""
    return "; ".join(f"{(form.fields[name].label or name) if name in form.fields else 'Form'}: {' '.join(errs)}"
                     for name, errs in form.errors.items())
