from django import forms


class StoryForm(forms.Form):
    headline = forms.CharField(max_length=500, strip=True)
    summary_markdown = forms.CharField(label="Summary (Markdown)", widget=forms.Textarea(attrs={"rows": 8}),
                                       strip=True, max_length=20000)

    def clean_headline(self):
        return " ".join(self.cleaned_data["headline"].split())

    def clean_summary_markdown(self):
        return self.cleaned_data["summary_markdown"].replace("\r\n", "\n")


class TestSendForm(forms.Form):
    email = forms.EmailField(label="Send a test email to", max_length=320)
