"""A person's name, linked to their page where the viewer may see it (`{% person_link user %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.permissions import Access

register = template.Library()


@register.simple_tag(takes_context=True)
def person_link(context: template.Context, person: Any) -> str:
    """The name as a link to `budgets:person` for themself, their managers, finance and admins; plain text for
    anyone else (one membership query per page at most, however many names)."""
    if not isinstance(person, User):
        return format_html("{}", person if person is not None else "—")
    request = context.get("request")
    if request is None or not Access.for_request(request).can_view_person(person):
        return format_html("{}", person)
    return format_html('<a href="{}">{}</a>', reverse("budgets:person", args=[person.pk]), person)
