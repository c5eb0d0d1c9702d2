"""Coding-tool identities (admin): who each tool names that nobody is matched to, mapped by hand to a person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import require_admin
from allocator.coding.models import CodingIdentity
from allocator.coding.store import coding_identity_map
from allocator.forms import CodingIdentityMapForm

SHOWN = 200  # identities a list shows (the unmatched ones first)


@login_required
def coding_identities(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    identities = CodingIdentity.objects.select_related("account", "user", "mapped_by")
    identities = identities.order_by("account__name", "external_id")
    unmatched = list(identities.filter(user__isnull=True)[:SHOWN])
    matched = identities.filter(user__isnull=False).order_by("-matched_by", "account__name", "external_id")
    matched = list(matched[:SHOWN])
    # One list of people for every row's picker (a datalist), read once: not a select of everyone per row.
    people = User.objects.filter(is_active=True).order_by("full_name", "email").values_list("email", "full_name")
    people = list(people)
    context = {"unmatched": unmatched, "matched": matched, "people": people, "shown": SHOWN}
    return render(request, "allocator/coding_identities.html", context)


@login_required
@require_POST
def coding_identity_map_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    identity = get_object_or_404(CodingIdentity, pk=pk)
    form = CodingIdentityMapForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("allocator:coding_identities")
    person = form.cleaned_data["person"]
    coding_identity_map(identity=identity, user=person, by=request.user)
    if person:
        text = f"{identity.external_id} is now {person}: their {identity.account} use moved to them."
        messages.success(request, text)
    else:
        messages.success(request, f"{identity.external_id} is unmatched again: its use counts as unattributed.")
    return redirect("allocator:coding_identities")
