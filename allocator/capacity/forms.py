"""The form an admin records a rate limit with: bounded whole numbers, a note, clear errors."""

from __future__ import annotations

from django import forms

from allocator.capacity.models import MAX_LIMIT
from allocator.models import ProviderAccount
from allocator.providers import capacity


class LimitForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ProviderAccount.objects.order_by("name"), label="Provider account")
    model = forms.CharField(max_length=120, help_text="As the provider names it, e.g. gpt-4.1 or claude-sonnet-4.")
    dimension = forms.ChoiceField(choices=capacity.DIMENSIONS, label="Limit")
    value = forms.IntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        label="Value",
        help_text="The real limit, where things start breaking (a whole number of tokens or requests).",
    )
    scope = forms.CharField(
        max_length=80, required=False, help_text="A project or workspace id; leave empty for the whole account."
    )
    note = forms.CharField(max_length=200, required=False, widget=forms.Textarea(attrs={"rows": 2}))
