"""The answer to a sign-in while django-axes has locked the account or the address out (settings: AXES_*)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.forms import EmailAuthenticationForm


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-ins for this account or from your address. Signing in is paused for {minutes} "
        "minutes, even with the right password. Try again later, or ask an admin to unlock it."
    )


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """The login page again, with the lockout said plainly, as 429 Too Many Requests."""
    form = EmailAuthenticationForm(request)
    context = {"form": form, "lockout": lockout_message(), "next": request.POST.get("next", "")}
    context["oidc_enabled"] = settings.OIDC_ENABLED
    return render(request, "accounts/login.html", context, status=429)
