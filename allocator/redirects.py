"""Where to go after a form post: the `next` the page asked for, but only on this site."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect


def redirect_next(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Redirect to POST `next` when it is a URL of this host (never off-site), else to `fallback`."""
    return redirect(request.POST.get("next") or fallback)
