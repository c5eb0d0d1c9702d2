from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Access


def home_panels(request: HttpRequest) -> dict[str, Any]:
    return {}


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    return render(request, "budgets/overview.html", {})
