"""The subscribe form."""

from __future__ import annotations

from django import forms

from alliance_digest import subscribers


class SubscribeForm(forms.Form):
    email = forms.CharField(label="Email address", max_length=subscribers.MAX_EMAIL,
                            widget=forms.EmailInput(attrs={"autocomplete": "email", "required": True}))
    name = forms.CharField(label="Name (optional)", max_length=subscribers.MAX_NAME, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    # A honeypot: hidden from people, filled in by some bots; a filled-in form is answered but ignored.
    website = forms.CharField(required=False, max_length=200,
                              widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))

    def clean_email(self) -> str:
        value = self.cleaned_data["email"]
        try:
            subscribers.normalise(value)
        except subscribers.InvalidAddress:
            raise forms.ValidationError("Please enter a valid email address.") from None
        return value.strip()
