"""Error pages: 400, 404 and 500 with the site's layout."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A 400 that says what was wrong (views raise BadRequest with a sentence meant for the reader)."""
    return render(request, "400.html", {"message": str(exception)}, status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
