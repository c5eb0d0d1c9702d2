"""Pages for keys, key requests, approvals, provider accounts and policy."""

from __future__ import annotations

import calendar
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import AuditEvent
from accounts.permissions import Access, get_visible_or_404
from allocator import approvals as approval_services
from allocator import key_requests, provider_accounts
from allocator import keys as key_services
from allocator.forms import ImportKeyForm, KeyRequestForm, PolicyForm, ProviderAccountForm, RejectForm
from allocator.models import (
    DailyRollup,
    InvalidTransition,
    Key,
    KeyRequest,
    Policy,
    ProviderAccount,
)
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter

# --- helpers ----------------------------------------------------------------------------------------


def _require_admin(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.is_admin:
        raise PermissionDenied
    return access


def _with_quarter_spend(keys: QuerySet[Key]) -> QuerySet[Key]:
    """Annotate each key with its spend this quarter, read from daily rollups in one subquery."""
    quarter = Quarter.current()
    spend = (
        DailyRollup.objects.filter(key=OuterRef("pk"), day__gte=quarter.start, day__lt=quarter.end)
        .values("key")
        .annotate(total=Sum("cost_usd"))
        .values("total")
    )
    money = DecimalField(max_digits=18, decimal_places=6)
    return keys.annotate(
        spend_usd=Coalesce(Subquery(spend, output_field=money), Value(Decimal("0")), output_field=money)
    )


def _timeline(*objects: Any) -> QuerySet[AuditEvent]:
    q = Q(pk__in=[])
    for obj in objects:
        if obj is not None:
            q |= Q(target_type=obj._meta.label_lower, target_id=str(obj.pk))
    return AuditEvent.objects.filter(q).select_related("actor").order_by("created_at", "id")


def _provider_error(request: HttpRequest, error: Exception) -> None:
    messages.error(request, f"The provider call failed, nothing was changed: {error}")


def home_panels(request: HttpRequest) -> dict[str, Any]:
    access = Access.for_request(request)
    my_keys = _with_quarter_spend(
        Key.objects.filter(Q(owner_user=request.user) | Q(owner_project__isnull=False, requested_by=request.user))
        .exclude(status=Key.Status.REVOKED)
        .select_related("account", "owner_project")
    )[:6]
    open_requests = KeyRequest.objects.filter(
        requester=request.user, state__in=[KeyRequest.State.PENDING, KeyRequest.State.APPROVED, KeyRequest.State.FAILED]
    ).select_related("account")[:6]
    approvals = (
        access.approvable(KeyRequest.objects.filter(state=KeyRequest.State.PENDING))
        .exclude(requester=request.user)
        .count()
    )
    return {"my_keys": my_keys, "open_key_requests": open_requests, "key_approvals_waiting": approvals}


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)


# --- keys -------------------------------------------------------------------------------------------


@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    """My keys: keys I own, and keys of projects in my teams."""
    access = Access.for_request(request)
    keys = Key.objects.filter(
        Q(owner_user=request.user) | Q(owner_project__team__in=access.team_ids) | Q(requested_by=request.user)
    ).distinct()
    status = request.GET.get("status", "")
    if status:
        keys = keys.filter(status=status)
    keys = _with_quarter_spend(keys.select_related("account", "owner_user", "owner_project", "team"))
    page = Paginator(keys, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "allocator/key_list.html",
        {"page": page, "status": status, "statuses": Key.Status.choices, "quarter": Quarter.current()},
    )


@login_required
def key_admin_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    keys = Key.objects.all()
    status, account = request.GET.get("status", ""), request.GET.get("account", "")
    if status:
        keys = keys.filter(status=status)
    if account:
        keys = keys.filter(account_id=account)
    if q := request.GET.get("q", "").strip():
        keys = keys.filter(Q(name__icontains=q) | Q(owner_user__email__icontains=q) | Q(hint__icontains=q))
    keys = _with_quarter_spend(keys.select_related("account", "owner_user", "owner_project", "team"))
    page = Paginator(keys, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "allocator/key_admin_list.html",
        {
            "page": page,
            "status": status,
            "account": account,
            "statuses": Key.Status.choices,
            "accounts": ProviderAccount.objects.all(),
            "query": query.urlencode(),
            "quarter": Quarter.current(),
        },
    )


def _get_key_for_user(request: HttpRequest, pk: int) -> Key:
    return get_visible_or_404(
        request, Key.objects.select_related("account", "owner_user", "owner_project", "team", "request"), pk=pk
    )


@login_required
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = _get_key_for_user(request, pk)
    access = Access.for_request(request)
    quarter = Quarter.current()
    spend = DailyRollup.objects.filter(key=key, day__gte=quarter.start, day__lt=quarter.end).aggregate(
        total=Coalesce(Sum("cost_usd"), Decimal("0"))
    )["total"]
    can_reveal = key.secret_available and (
        key.owner_user_id == request.user.pk or (key.owner_project_id and key.requested_by_id == request.user.pk)
    )
    return render(
        request,
        "allocator/key_detail.html",
        {
            "key": key,
            "spend": spend,
            "quarter": quarter,
            "timeline": _timeline(key, key.request),
            "can_reveal": can_reveal,
            "can_owner": access.can_act_as_owner(key),
            "can_manage": access.can_manage(key),
            "caps": key.account.capabilities,
            "enforcement": getattr(key, "enforcement", None),
        },
    )


@login_required
def key_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows the reveal button; POST shows the secret exactly once."""
    key = _get_key_for_user(request, pk)
    template = "allocator/key_reveal.html"
    if request.method != "POST":
        return render(request, template, {"key": key})
    try:
        secret = key_services.key_reveal(key=key, by=request.user)
    except PermissionDenied:
        raise
    except InvalidTransition as error:
        # 410 Gone for plain requests; htmx only swaps 2xx answers, so it gets the partial with a 200.
        if request.htmx:
            return render(request, template + "#already_shown", {"key": key, "error": str(error)})
        return render(request, template, {"key": key, "error": str(error)}, status=410)
    if request.htmx:
        template += "#secret"
    response = render(request, template, {"key": key, "secret": secret, "base_url": _client_base_url(key)})
    response["Cache-Control"] = "no-store"
    return response


def _client_base_url(key: Key) -> str:
    return {
        "openai": "https://api.openai.com/v1",
        "openrouter": "https://openrouter.ai/api/v1",
        "anthropic": "https://api.anthropic.com",
    }.get(key.account.kind, "https://simulated.invalid/v1")


def _confirmed_key_action(request: HttpRequest, pk: int, *, action: str) -> HttpResponse:
    """GET: a confirmation page. POST: do it, then back to the key."""
    key = _get_key_for_user(request, pk)
    access = Access.for_request(request)
    allowed = access.can_manage(key) if action in ("suspend", "reinstate") else access.can_act_as_owner(key)
    if not allowed:
        raise PermissionDenied
    if request.method != "POST":
        return render(request, "allocator/key_confirm.html", {"key": key, "action": action})
    reason = request.POST.get("reason", "").strip()
    try:
        if action == "revoke":
            key_services.key_revoke(key=key, by=request.user, reason=reason or "revoked by user")
            messages.success(request, f"Key “{key.name}” is revoked at the provider.")
        elif action == "rotate":
            key_services.key_rotate(key=key, by=request.user)
            messages.success(request, "Rotated. The old secret no longer works; reveal the new one below.")
        elif action == "suspend":
            key_services.key_suspend(key=key, by=request.user, reason=reason or "suspended by an admin")
            messages.success(request, f"Key “{key.name}” is suspended.")
        elif action == "reinstate":
            key_services.key_reinstate(key=key, by=request.user, reason=reason)
            messages.success(request, f"Key “{key.name}” is active again.")
    except (InvalidTransition, ValidationError) as error:
        messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
    except ProviderError as error:
        _provider_error(request, error)
    return redirect(key.get_absolute_url())


@login_required
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_key_action(request, pk, action="revoke")


@login_required
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_key_action(request, pk, action="rotate")


@login_required
def key_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_key_action(request, pk, action="suspend")


@login_required
def key_reinstate(request: HttpRequest, pk: int) -> HttpResponse:
    return _confirmed_key_action(request, pk, action="reinstate")


# --- key requests -----------------------------------------------------------------------------------


@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    template = "allocator/request_form.html"
    form = KeyRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and request.htmx and "submit" not in request.POST:
        # Inline validation while the person fills the form: errors only for fields they touched; nothing saved.
        form.is_valid()
        for field in list(form.errors):
            if field != "__all__" and not request.POST.get(field):
                del form.errors[field]
        return render(request, template + "#form", {"form": form, "validating": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key_request = key_requests.key_request_create(
                requester=request.user,
                account=data["account"],
                team=data["team"],
                project=data["project"],
                name=data["name"],
                purpose=data["purpose"],
                allowance_usd=data["allowance_usd"],
                expires_on=data["expires_on"],
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if key_request.auto_approved:
                messages.success(request, "Approved automatically by policy. Your key is being minted now.")
            else:
                messages.success(request, "Request sent. Your manager has been notified.")
            if request.htmx:
                return HttpResponseClientRedirect(key_request.get_absolute_url())
            return redirect(key_request.get_absolute_url())
    if request.htmx:
        template += "#form"
    policy = Policy.current()
    return render(request, template, {"form": form, "policy": policy})


def _get_request_for_user(request: HttpRequest, pk: int) -> KeyRequest:
    return get_visible_or_404(
        request, KeyRequest.objects.select_related("account", "requester", "team", "project"), pk=pk
    )


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key_request = _get_request_for_user(request, pk)
    access = Access.for_request(request)
    key = Key.objects.filter(request=key_request).first()
    return render(
        request,
        "allocator/request_detail.html",
        {
            "kr": key_request,
            "key": key,
            "timeline": _timeline(key_request, key),
            "can_approve": approval_services.approval_may_decide(approval_request=key_request, by=request.user),
            "can_owner": access.can_act_as_owner(key_request),
            "reject_form": RejectForm(),
        },
    )


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    pending = (
        access.approvable(
            KeyRequest.objects.filter(state=KeyRequest.State.PENDING).select_related(
                "requester", "account", "team", "project"
            )
        )
        .exclude(requester=request.user)
        .order_by("created_at")
    )
    recent = access.visible(KeyRequest.objects.exclude(state=KeyRequest.State.PENDING), user="requester")
    recent = recent.select_related("requester", "account", "decided_by").order_by("-updated_at")[:10]
    context = {"pending": pending, "recent": recent, "reject_form": RejectForm()}
    try:
        from budgets.views import approvals_context

        context.update(approvals_context(request))
    except ImportError:
        pass
    return render(request, "allocator/approvals.html", context)


def _decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    key_request = _get_request_for_user(request, pk)
    error = ""
    try:
        if decision == "approve":
            key_request = approval_services.approval_approve(approval_request=key_request, by=request.user)
        else:
            form = RejectForm(request.POST)
            if not form.is_valid():
                raise InvalidTransition("Say why the request is rejected.")
            key_request = approval_services.approval_reject(
                approval_request=key_request, by=request.user, reason=form.cleaned_data["reason"]
            )
    except PermissionDenied:
        raise
    except InvalidTransition as e:
        error = str(e)
    if request.htmx:
        key_request.refresh_from_db()
        return render(
            request,
            "allocator/approvals.html#request_row",
            {"kr": key_request, "decided": not error, "error": error, "reject_form": RejectForm()},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Request “{key_request.name}” {key_request.get_state_display().lower()}.")
    return redirect(request.POST.get("next") or key_request.get_absolute_url())


@login_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "approve")


@login_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "reject")


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    key_request = _get_request_for_user(request, pk)
    try:
        approval_services.approval_cancel(approval_request=key_request, by=request.user)
        messages.success(request, "Request cancelled.")
    except InvalidTransition as error:
        messages.error(request, str(error))
    return redirect(key_request.get_absolute_url())


@login_required
@require_POST
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    key_request = _get_request_for_user(request, pk)
    try:
        key_requests.key_request_retry(key_request=key_request, by=request.user)
        messages.success(request, "Minting again. This page updates when the key is ready.")
    except InvalidTransition as error:
        messages.error(request, str(error))
    return redirect(key_request.get_absolute_url())


@login_required
def request_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled by htmx while a request is being minted."""
    key_request = _get_request_for_user(request, pk)
    key = Key.objects.filter(request=key_request).first()
    return render(request, "allocator/request_detail.html#status", {"kr": key_request, "key": key})


# --- provider accounts (admin) ------------------------------------------------------------------------


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return render(request, "allocator/account_list.html", {"accounts": ProviderAccount.objects.all()})


@login_required
def account_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk) if pk else None
    form = ProviderAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        account = form.save()
        AuditEvent.record("provider_account.saved", actor=request.user, target=account, kind=account.kind)
        messages.success(request, f"Saved “{account.name}”. Test the connection to check the credential.")
        return redirect(account.get_absolute_url())
    return render(request, "allocator/account_form.html", {"form": form, "account": account})


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    keys = _with_quarter_spend(account.keys.select_related("owner_user", "owner_project", "team"))
    return render(
        request,
        "allocator/account_detail.html",
        {
            "account": account,
            "caps": account.capabilities,
            "page": Paginator(keys, 25).get_page(request.GET.get("page")),
        },
    )


@login_required
@require_POST
def account_test(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    ok, message = provider_accounts.account_test_connection(account=account, by=request.user)
    account.refresh_from_db()
    if request.htmx:
        return render(request, "allocator/account_detail.html#connection", {"account": account, "tested": True})
    (messages.success if ok else messages.error)(request, message)
    return redirect(account.get_absolute_url())


@login_required
def account_unmanaged(request: HttpRequest, pk: int) -> HttpResponse:
    """Keys at the provider Allocator does not know: import (assign an owner) or revoke."""
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    error, remote = "", []
    try:
        remote = provider_accounts.account_unmanaged_keys(account=account)
    except ProviderError as e:
        error = str(e)
    template = "allocator/account_unmanaged.html"
    if request.htmx:
        template += "#list"
    return render(request, template, {"account": account, "remote": remote, "error": error, "form": ImportKeyForm()})


@login_required
@require_POST
def account_import_key(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    form = ImportKeyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            key = provider_accounts.account_import_key(
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
            _provider_error(request, error)
        else:
            messages.success(request, f"Imported “{key.name}”. Allocator now manages it.")
    else:
        messages.error(request, "Could not import: " + " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("allocator:account_unmanaged", pk=account.pk)


@login_required
@require_POST
def account_revoke_remote(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    try:
        provider_accounts.account_revoke_remote_key(
            account=account, provider_key_id=request.POST.get("provider_key_id", ""), by=request.user
        )
        messages.success(request, "Revoked at the provider.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ProviderError as error:
        _provider_error(request, error)
    return redirect("allocator:account_unmanaged", pk=account.pk)


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    current = Policy.current()
    form = PolicyForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        changed = {f: str(form.cleaned_data[f]) for f in form.changed_data}
        saved = form.save(commit=False)
        saved.updated_by = request.user
        saved.save()
        AuditEvent.record("policy.changed", actor=request.user, target=saved, **changed)
        messages.success(request, "Policy saved.")
        return redirect("allocator:policy")
    fiscal_start = calendar.month_name[Quarter.start_month()]
    return render(
        request,
        "allocator/policy.html",
        {"form": form, "policy": current, "fiscal_start": fiscal_start, "quarter": Quarter.current()},
    )
