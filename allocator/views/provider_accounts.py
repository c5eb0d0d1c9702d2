"""Provider account pages (admin): list, connect or edit, test the credential, unmanaged keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import AuditEvent
from accounts.permissions import require_admin
from allocator import provider_accounts as account_services
from allocator.coding.store import coding_account_reroll
from allocator.forms import ImportKeyForm, ProviderAccountForm
from allocator.models import (
    ProviderAccount,
)
from allocator.providers.base import ProviderError
from allocator.views.keys import provider_failed
from budgets.spend import with_quarter_spend

# --- provider accounts (admin) ------------------------------------------------------------------------


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    return render(request, "allocator/account_list.html", {"accounts": ProviderAccount.objects.all()})


@login_required
def account_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk) if pk else None
    # Picking another provider re-renders the form (htmx GET with what was typed) with that provider's fields.
    initial = {name: request.GET[name] for name in ("name", "base_url") if name in request.GET}
    form = ProviderAccountForm(
        request.POST or None, instance=account, kind=request.GET.get("kind", ""), initial=initial
    )
    if request.method == "POST" and form.is_valid():
        policy_before = (account.options or {}).get("budget_policy") if account else None
        account = form.save()
        if account.capabilities.coding_usage and (account.options or {}).get("budget_policy") != policy_before:
            coding_account_reroll(account=account)  # counted spend joins or leaves the budgets now
        AuditEvent.record("provider_account.saved", actor=request.user, target=account, kind=account.kind)
        messages.success(request, f"Saved “{account.name}”. Test the connection to check the credential.")
        return redirect(account.get_absolute_url())
    template = "allocator/account_form.html" + ("#form" if request.htmx else "")
    return render(request, template, {"form": form, "account": account})


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    keys = with_quarter_spend(account.keys.select_related("owner_user", "owner_project", "team"))
    return render(
        request,
        "allocator/account_detail.html",
        {
            "account": account,
            "caps": account.capabilities,
            "page": Paginator(keys, 25).get_page(request.GET.get("page")),
            "history_days": account.adapter().usage_history_days,
            "gaps": account.usage_gaps.all()[:10],
        },
    )


@login_required
@require_POST
def account_test(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    ok, message = account_services.account_test_connection(account=account, by=request.user)
    account.refresh_from_db()
    if request.htmx:
        return render(request, "allocator/account_detail.html#connection", {"account": account, "tested": True})
    (messages.success if ok else messages.error)(request, message)
    return redirect(account.get_absolute_url())


@login_required
def account_unmanaged(request: HttpRequest, pk: int) -> HttpResponse:
    """Keys at the provider Allocator does not know: import (assign an owner) or revoke."""
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    error, remote = "", []
    try:
        remote = account_services.account_unmanaged_keys(account=account)
    except ProviderError as e:
        error = str(e)
    template = "allocator/account_unmanaged.html"
    if request.htmx:
        template += "#list"
    return render(request, template, {"account": account, "remote": remote, "error": error, "form": ImportKeyForm()})


@login_required
@require_POST
def account_import_key(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    form = ImportKeyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            key = account_services.account_import_key(
                account=account,
                provider_key_id=data["provider_key_id"],
                owner_user=data["owner_user"],
                owner_project=data["owner_project"],
                team=data["team"],
                limit_usd=data["limit_usd"],
                by=request.user,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except ProviderError as error:
            provider_failed(request, error)
        else:
            messages.success(request, f"Imported “{key.name}”. Allocator now manages it.")
    else:
        messages.error(request, "Could not import: " + " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("allocator:account_unmanaged", pk=account.pk)


@login_required
@require_POST
def account_revoke_remote(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    try:
        account_services.account_revoke_remote_key(
            account=account, provider_key_id=request.POST.get("provider_key_id", ""), by=request.user
        )
        messages.success(request, "Revoked at the provider.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ProviderError as error:
        provider_failed(request, error)
    return redirect("allocator:account_unmanaged", pk=account.pk)
