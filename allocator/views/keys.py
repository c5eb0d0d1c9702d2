"""Key pages: my keys, all keys (admin), one key, reveal once, and the confirmed key actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.permissions import Access, get_visible_or_404, require_admin
from accounts.timeline import timeline
from allocator import keys as key_services
from allocator.converters import MAX_ID
from allocator.forms import KeyActionForm
from allocator.key_usage import key_recent_days
from allocator.models import (
    InvalidTransition,
    Key,
    ProviderAccount,
)
from allocator.providers import provider_class
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter
from budgets.reports.key_usage import key_cost_sources
from budgets.reports.team_keys import DEFAULT_SORT, budget_states, team_key_page, visible_teams
from budgets.spend import KEY_SCOPE, spend_of_scope, with_quarter_spend


def provider_failed(request: HttpRequest, error: Exception) -> None:
    messages.error(request, f"The provider call failed, nothing was changed: {error}")


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
    keys = with_quarter_spend(keys.select_related("account", "owner_user", "owner_project", "team"))
    page = Paginator(keys, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "allocator/key_list.html",
        {"page": page, "status": status, "statuses": Key.Status.choices, "quarter": Quarter.current()},
    )


@login_required
def key_admin_list(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    keys = Key.objects.all()
    status, account = request.GET.get("status", ""), request.GET.get("account", "")
    if status:
        keys = keys.filter(status=status)
    if account:
        if not account.isdigit() or int(account) > MAX_ID:
            raise BadRequest(f"“{account}” is not a provider account: pick one from the list.")
        keys = keys.filter(account_id=int(account))
    if q := request.GET.get("q", "").strip():
        keys = keys.filter(Q(name__icontains=q) | Q(owner_user__email__icontains=q) | Q(hint__icontains=q))
    keys = with_quarter_spend(keys.select_related("account", "owner_user", "owner_project", "team"))
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


# The team key list's columns: (?sort= name or "" if not sortable, header).
TEAM_KEY_COLUMNS = [
    ("name", "Key"),
    ("owner", "Owner"),
    ("team", "Team"),
    ("status", "Status"),
    ("spend", "Spend"),
    ("allowance", "Allowance"),
    ("", "Owner's budget"),
]


def _team_filter(request: HttpRequest, access: Access) -> tuple[str, list[int] | None]:
    """`?team=` as the team ids to list: one of the viewer's teams (another team's id is a 404), or all of them."""
    team = request.GET.get("team", "")
    if not team:
        return "", None if access.sees_everything else sorted(access.managed_team_ids)
    if not team.isdigit() or int(team) > MAX_ID:
        raise BadRequest(f"“{team}” is not a team: pick one from the list.")
    if not (access.sees_everything or int(team) in access.managed_team_ids):
        raise Http404
    return team, [int(team)]


@login_required
def key_team_list(request: HttpRequest) -> HttpResponse:
    """Every key in the teams I manage (finance and admins: every team), with spend and budget state."""
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    team, team_ids = _team_filter(request, access)
    status = request.GET.get("status", "")
    if status and status not in Key.Status.values:
        raise BadRequest(f"“{status}” is not a key status: pick one from the list.")
    sort = request.GET.get("sort", DEFAULT_SORT)
    quarter = Quarter.current()
    page = team_key_page(team_ids=team_ids, status=status, sort=sort, quarter=quarter, page=request.GET.get("page"))
    states = budget_states(list(page), quarter)
    for key in page:
        key.budget_state = states.get(key.pk)
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return render(
        request,
        "allocator/key_team_list.html",
        {
            "page": page,
            "team": team,
            "teams": visible_teams(access),
            "status": status,
            "statuses": Key.Status.choices,
            "sort": sort,
            "sort_columns": TEAM_KEY_COLUMNS,
            "query": query.urlencode(),
            "sort_query": sort_query.urlencode(),
            "quarter": quarter,
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
    spend = spend_of_scope(scope=KEY_SCOPE, scope_id=key.pk, quarter=quarter)
    enforcement = getattr(key, "enforcement", None)
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
            "recent_days": key_recent_days(key, quarter),
            "timeline": timeline(key, key.request),
            "can_reveal": can_reveal,
            "can_owner": access.can_act_as_owner(key),
            "can_manage": access.can_manage(key),
            "caps": key.account.capabilities,
            "enforcement": enforcement,
            # Suspended because the key's own allowance is spent (not a budget): a bump of the allowance helps.
            "allowance_spent": enforcement is not None and enforcement.scope_key == f"{KEY_SCOPE}:{key.pk}",
        },
    )


@login_required
def key_cost_sources_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the key's cost this quarter comes from, per model; the key page loads it after itself (htmx)."""
    key = _get_key_for_user(request, pk)
    quarter = Quarter.current()
    template = "budgets/reports/key_sources.html"
    if request.htmx:
        template += "#sources"
    return render(
        request, template, {"key": key, "quarter": quarter, "sources": key_cost_sources(key=key, quarter=quarter)}
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
    base_url = provider_class(key.account.kind).client_base_url
    response = render(request, template, {"key": key, "secret": secret, "base_url": base_url})
    response["Cache-Control"] = "no-store"
    return response


def _confirmed_key_action(request: HttpRequest, pk: int, *, action: str) -> HttpResponse:
    """GET: a confirmation page. POST: do it, then back to the key."""
    key = _get_key_for_user(request, pk)
    access = Access.for_request(request)
    allowed = access.can_manage(key) if action in ("suspend", "reinstate") else access.can_act_as_owner(key)
    if not allowed:
        raise PermissionDenied
    form = KeyActionForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():  # GET, or a reason too long for its column: nothing reaches the provider
        return render(request, "allocator/key_confirm.html", {"key": key, "action": action, "form": form})
    reason = form.cleaned_data["reason"]
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
        provider_failed(request, error)
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
