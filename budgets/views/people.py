"""A person's page: their keys, budgets, spend trend and efficiency (themself, their managers, finance, admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from accounts.permissions import Access
from allocator.quarters import Quarter
from budgets.reports.people import person_page


def _get_person_for_user(request: HttpRequest, pk: int) -> User:
    """The person, if the signed-in person may see their page; a 404 for anyone else (no hint they exist)."""
    person = User.objects.filter(pk=pk).first()
    if person is None or not Access.for_request(request).can_view_person(person):
        raise Http404
    return person


@login_required
def person(request: HttpRequest, pk: int) -> HttpResponse:
    person = _get_person_for_user(request, pk)
    quarter = Quarter.from_param(request.GET.get("quarter"))
    return render(request, "budgets/person.html", person_page(person=person, quarter=quarter))
