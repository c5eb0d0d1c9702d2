"""The personal API tokens page: create one (shown once), list mine with last use, revoke."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.api_tokens import MAX_EXPIRY_DAYS, ApiToken, api_token_create, api_token_revoke

TOKENS_SHOWN = 100


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “nightly spend report”.")
    access = forms.ChoiceField(
        choices=[("read", "Read only"), ("write", "Read and write")],
        initial="read",
        widget=forms.RadioSelect,
        help_text="Read-write tokens can request keys and decide approvals as you; read-only tokens cannot.",
    )
    expires_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"The last day it works (UTC), at most {MAX_EXPIRY_DAYS} days from today.",
    )


@never_cache
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """GET: my tokens and the create form. POST: create one and show it this once."""
    created = None
    initial = {"expires_on": timezone.now().date() + timedelta(days=90)}
    form = TokenForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["access"] == "read",
                expires_on=form.cleaned_data["expires_on"],
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            created = (token, raw)
            form = TokenForm(initial=initial)
    tokens = ApiToken.objects.filter(user=request.user)[:TOKENS_SHOWN]
    return render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "created": created})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("accounts:tokens")
