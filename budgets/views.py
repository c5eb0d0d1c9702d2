"""Pages for budgets: the engineer's home panel, the manager's split table, finance's overview, bumps, alerts.

Access rules come from accounts.permissions.Access; objects of other teams are a 404, read-only roles a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from accounts.models import AuditEvent, CostCenter, Membership, Project, Team, User
from accounts.permissions import Access, get_visible_or_404
from allocator.models import InvalidTransition, Key, Policy
from allocator.quarters import Quarter
from budgets import alerts as alert_services
from budgets import charts, services, slack
from budgets.forecast import FORECAST_METHOD, NO_BURN, BurnRate, Forecast, burn_rates, forecast
from budgets.models import Alert, Budget, BudgetRequest, KeyEnforcement, Scope, scope_key
from budgets.spend import daily_spend, scope_spend

ZERO = Decimal("0")


# --- helpers ----------------------------------------------------------------------------------------------


def _quarter(request: HttpRequest) -> Quarter:
    try:
        return Quarter.parse(request.GET.get("quarter", ""))
    except ValueError:
        return Quarter.current()


class _Numbers:
    """Spend and burn rates of every scope for one quarter, read once per page (two queries)."""

    def __init__(self, quarter: Quarter) -> None:
        self.quarter = quarter
        self.today = timezone.now().date()
        self.live = quarter.contains(self.today)
        self.spend = scope_spend(quarter=quarter)
        self.rates = burn_rates(today=self.today) if self.live else {}

    def forecast(self, key: str, amount: Decimal | None) -> Forecast:
        return forecast(
            spend=self.spend.get(key, ZERO),
            amount=amount,
            rate=self.rates.get(key, NO_BURN),
            today=self.today if self.live else self.quarter.last_day,
            quarter=self.quarter,
        )

    def rate(self, key: str) -> BurnRate:
        return self.rates.get(key, NO_BURN)


@dataclass
class Row:
    """One line of a budget table: a scope, its budget (if any) and its numbers."""

    scope: str
    obj: Any
    budget: Budget | None
    fc: Forecast
    level: int = 0
    allocated: Decimal | None = None

    @property
    def key(self) -> str:
        return scope_key(self.scope, self.obj.pk)

    @property
    def bar_percent(self) -> int:
        pct = self.fc.percent
        return 0 if pct is None else int(min(Decimal("100"), pct))

    @property
    def bar_class(self) -> str:
        pct = self.fc.percent or ZERO
        return "bad" if pct >= 100 else "warn" if pct >= 80 else ""

    @property
    def dom_id(self) -> str:
        return self.key.replace(":", "-")


def _burndown(budget: Budget | None, numbers: _Numbers, key: str, fc: Forecast, daily: dict) -> charts.Chart:
    return charts.burndown(
        quarter=numbers.quarter,
        amount=budget.amount_usd if budget else None,
        daily=daily,
        fc=fc,
        rate=numbers.rate(key) if numbers.live else None,
        today=numbers.today if numbers.live else numbers.quarter.last_day,
    )


EVENT_LABELS = {
    "budget.set": "Budget set",
    "budget.bumped": "Raised by an approved bump",
    "budget.raised_for_bump": "Raised to make room for a bump",
    "budget_request.created": "Asked for more",
    "budget_request.auto_approved": "Approved automatically by policy",
    "budget_request.approved_manager": "Approved by the manager",
    "budget_request.approved_finance": "Approved by finance",
    "budget_request.rejected": "Rejected",
    "budget_request.cancelled": "Cancelled",
}


def _timeline(*objects: Any) -> list[AuditEvent]:
    q = Q(pk__in=[])
    for obj in objects:
        q |= Q(target_type=obj._meta.label_lower, target_id=str(obj.pk))
    events = list(AuditEvent.objects.filter(q).select_related("actor").order_by("-created_at", "-id")[:30])
    for event in events:
        event.label = EVENT_LABELS.get(event.action, event.action)
    return events


class AmountForm(forms.Form):
    amount_usd = forms.DecimalField(label="Amount (USD)", min_value=Decimal("0"), max_digits=12, decimal_places=2)
    hard = forms.TypedChoiceField(
        label="Kind",
        choices=[("1", "Hard: suspend keys at 100 %"), ("0", "Soft: alerts only")],
        coerce=lambda v: v == "1",
        initial="1",
        required=False,
        empty_value=True,
    )

    def error_text(self) -> str:
        return " ".join(
            f"{self.fields[f].label}: {m}" if f != "__all__" else m for f, ms in self.errors.items() for m in ms
        )


class BumpForm(forms.Form):
    budget = forms.ModelChoiceField(queryset=Budget.objects.none(), label="Budget", empty_label=None)
    amount_usd = forms.DecimalField(label="Extra this quarter (USD)", min_value=Decimal("1"), decimal_places=2)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What is it for? e.g. eval run for the new ranker"}),
        max_length=2000,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["budget"]
        field.queryset = services.bumpable_budgets(user)
        field.label_from_instance = lambda b: f"{b.scope_label} — ${b.amount_usd:,} ({b.kind_label})"


# --- home panel and approvals (merged into pages owned by accounts and allocator) ----------------------------


def home_panels(request: HttpRequest) -> dict[str, Any]:
    """Context for templates/budgets/_home.html on the home page."""
    user = request.user
    access = Access.for_request(request)
    quarter = Quarter.current()
    numbers = _Numbers(quarter)
    mine = list(
        Budget.objects.filter(quarter=quarter.name)
        .filter(
            Q(scope=Scope.USER, user=user)
            | Q(scope=Scope.TEAM, team_id__in=access.team_ids)
            | Q(scope=Scope.PROJECT, team_id__in=access.team_ids, project__keys__owner_user=user)
        )
        .select_related("team", "project", "user")
        .distinct()
    )
    rows = [Row(b.scope, b.scope_object, b, numbers.forecast(b.scope_key, b.amount_usd)) for b in mine]
    rows.sort(key=lambda r: r.fc.remaining if r.fc.remaining is not None else ZERO)
    personal = next((r for r in rows if r.scope == Scope.USER), None)
    main = personal or (rows[0] if rows else None)
    my_key = scope_key(Scope.USER, user.pk)
    main_key = main.key if main else my_key
    main_fc = main.fc if main else numbers.forecast(my_key, None)
    daily = daily_spend(budget=main.budget, start=quarter.start, end=quarter.end) if main else {}
    suspended = list(
        Key.objects.filter(
            Q(owner_user=user) | Q(owner_project__isnull=False, requested_by=user),
            status=Key.Status.SUSPENDED,
            enforcement__suspended_by=KeyEnforcement.SuspendedBy.BUDGET,
        ).select_related("enforcement")[:5]
    )
    bumpable = list(services.bumpable_budgets(user))
    team_rows: list[Row] = []
    if access.sees_everything:
        team_rows = [r for r in _finance_rows(quarter, numbers, team_ids=None) if r.scope == Scope.TEAM and r.budget]
        team_rows = sorted(team_rows, key=lambda r: -(r.fc.percent or ZERO))[:5]
    elif access.is_manager:
        team_rows = _finance_rows(quarter, numbers, team_ids=set(access.managed_team_ids))
    return {
        "budget_team_rows": team_rows,
        "budget_quarter": quarter,
        "budget_rows": rows,
        "budget_main": main,
        "budget_main_fc": main_fc,
        "budget_chart": _burndown(main.budget if main else None, numbers, main_key, main_fc, daily) if main else None,
        "budget_suspended_keys": suspended,
        "budget_bumpable": bumpable,
        "budget_quick_default": main.budget
        if main and main.budget in bumpable
        else (bumpable[0] if bumpable else None),
        "my_bumps": BudgetRequest.objects.filter(requester=user).select_related("budget__team", "budget__project")[:5],
        "bump_approvals_waiting": access.approvable(BudgetRequest.objects.filter(state=BudgetRequest.State.PENDING))
        .filter(budget__quarter=quarter.name)
        .count(),
        "forecast_method": FORECAST_METHOD,
    }


def approvals_context(request: HttpRequest) -> dict[str, Any]:
    """Bumps waiting for this person, for the approvals page (allocator.views.approvals includes the template)."""
    access = Access.for_request(request)
    pending = list(
        access.approvable(
            BudgetRequest.objects.filter(state=BudgetRequest.State.PENDING).select_related(
                "requester", "team", "budget__team", "budget__project", "budget__user", "budget__cost_center"
            )
        ).order_by("created_at")
    )
    _with_numbers(pending)
    recent = access.visible(
        BudgetRequest.objects.exclude(state=BudgetRequest.State.PENDING), user="requester"
    ).select_related(
        "requester", "decided_by", "budget__team", "budget__project", "budget__user", "budget__cost_center"
    )
    return {
        "bump_template": "budgets/_bump_approvals.html",
        "bump_approvals": pending,
        "recent_bumps": recent.order_by("-updated_at")[:8],
    }


def _with_numbers(bumps: list[BudgetRequest]) -> None:
    """Attach spend and forecast of each bump's budget (two queries for all of them)."""
    by_quarter: dict[str, _Numbers] = {}
    for bump in bumps:
        quarter = Quarter.parse(bump.budget.quarter)
        numbers = by_quarter.setdefault(quarter.name, _Numbers(quarter))
        bump.fc = numbers.forecast(bump.budget.scope_key, bump.budget.amount_usd)
        # What the budget would be with the bump (a pending one), or was without it (an approved one).
        other = bump.budget.amount_usd + (bump.amount_usd if bump.is_open else -bump.amount_usd)
        bump.fc_other = numbers.forecast(bump.budget.scope_key, other)
        bump.stale = quarter != Quarter.current()


# --- overview (finance: everything; managers: their teams) --------------------------------------------------


def _require_overview(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    return access


def _finance_rows(quarter: Quarter, numbers: _Numbers, *, team_ids: set[int] | None = None) -> list[Row]:
    budgets = {
        b.scope_key: b for b in Budget.objects.filter(quarter=quarter.name, scope__in=[Scope.COST_CENTER, Scope.TEAM])
    }
    split = services.split_totals(quarter=quarter)
    rows: list[Row] = []
    cost_centers = CostCenter.objects.prefetch_related("teams").order_by("code")
    for cc in cost_centers:
        teams = [t for t in cc.teams.all() if team_ids is None or t.pk in team_ids]
        if team_ids is not None and not teams:
            continue
        if team_ids is None:
            key = scope_key(Scope.COST_CENTER, cc.pk)
            budget = budgets.get(key)
            rows.append(
                Row(
                    Scope.COST_CENTER,
                    cc,
                    budget,
                    numbers.forecast(key, budget and budget.amount_usd),
                    0,
                    split.get(key),
                )
            )
        for team in teams:
            key = scope_key(Scope.TEAM, team.pk)
            budget = budgets.get(key)
            rows.append(
                Row(Scope.TEAM, team, budget, numbers.forecast(key, budget and budget.amount_usd), 1, split.get(key))
            )
    return rows


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    access = _require_overview(request)
    quarter = _quarter(request)
    numbers = _Numbers(quarter)
    finance_view = access.sees_everything
    rows = _finance_rows(quarter, numbers, team_ids=None if finance_view else set(access.managed_team_ids))
    top = [r for r in rows if r.level == 0] if finance_view else rows
    total_budget = sum((r.budget.amount_usd for r in top if r.budget), ZERO)
    total_spend = (
        sum((r.fc.spend for r in top), ZERO)
        if not finance_view
        else sum((v for k, v in numbers.spend.items() if k.startswith("cost_center:")), ZERO)
    )
    total_projected = sum((r.fc.projected for r in top), ZERO)
    over = [r for r in rows if r.fc.status == "over"]
    at_risk = [r for r in rows if r.fc.status == "warn"]
    alerts = Access.for_request(request).visible(Alert.objects.exclude(status=Alert.Status.SKIPPED), user="user")
    if finance_view:
        alerts = Alert.objects.exclude(status=Alert.Status.SKIPPED)
    return render(
        request,
        "budgets/overview.html",
        {
            "quarter": quarter,
            "quarters": [quarter.previous(), Quarter.current(), Quarter.current().next()],
            "is_current": quarter == Quarter.current(),
            "rows": rows,
            "finance_view": finance_view,
            "can_set": access.is_finance,
            "total_budget": total_budget,
            "total_spend": total_spend,
            "total_projected": total_projected,
            "over": over,
            "at_risk": at_risk,
            "recent_alerts": alerts.filter(quarter=quarter.name).exclude(kind=Alert.Kind.APPROVAL)[:6],
            "previous_count": Budget.objects.filter(quarter=quarter.previous().name).count(),
            "forecast_method": FORECAST_METHOD,
        },
    )


@login_required
def budget_set(request: HttpRequest) -> HttpResponse:
    """Finance sets a cost-center or team budget. htmx: inline row edit on the overview; else a small form page."""
    access = Access.for_request(request)
    if not access.is_finance:
        raise PermissionDenied
    quarter = _quarter(request) if request.method == "GET" else _quarter_post(request)
    target = _scope_target(request)
    if target is None:
        return _set_page(request, quarter)
    scope, obj = target
    key = scope_key(scope, obj.pk)
    budget = Budget.objects.filter(quarter=quarter.name, scope=scope, **{f"{scope}_id": obj.pk}).first()
    error = ""
    if request.method == "POST":
        form = AmountForm(request.POST)
        if request.POST.get("cancel") is None and form.is_valid():
            try:
                budget = services.budget_set(
                    by=request.user,
                    quarter=quarter,
                    amount_usd=form.cleaned_data["amount_usd"],
                    hard=form.cleaned_data["hard"],
                    **{scope: obj},
                )
            except ValidationError as e:
                error = " ".join(e.messages)
            else:
                if not request.htmx:
                    messages.success(request, f"{budget.scope_title}: ${budget.amount_usd:,} in {quarter}.")
                    return redirect(reverse("budgets:overview") + f"?quarter={quarter}")
        elif request.POST.get("cancel") is None:
            error = form.error_text()
        if request.htmx and (error == "" or request.POST.get("cancel") is not None):
            numbers = _Numbers(quarter)
            split = services.split_totals(quarter=quarter)
            row = Row(
                scope,
                obj,
                budget,
                numbers.forecast(key, budget and budget.amount_usd),
                0 if scope == Scope.COST_CENTER else 1,
                split.get(key),
            )
            response = render(
                request, "budgets/overview.html#budget_row", {"row": row, "quarter": quarter, "can_set": True}
            )
            return trigger_client_event(response, "budget-changed") if not request.POST.get("cancel") else response
    initial = {
        "amount_usd": budget.amount_usd if budget else None,
        "hard": "1" if (budget is None or budget.hard) else "0",
    }
    form = (
        AmountForm(request.POST or None, initial=initial) if request.method == "POST" else AmountForm(initial=initial)
    )
    context = {"scope": scope, "obj": obj, "budget": budget, "form": form, "error": error, "quarter": quarter}
    context["row_id"] = key.replace(":", "-")
    if request.htmx:
        return render(request, "budgets/overview.html#budget_edit", context)
    return render(request, "budgets/set.html", {**context, "single": True})


def _quarter_post(request: HttpRequest) -> Quarter:
    try:
        return Quarter.parse(request.POST.get("quarter", "") or request.GET.get("quarter", ""))
    except ValueError:
        return Quarter.current()


def _scope_target(request: HttpRequest) -> tuple[str, Any] | None:
    data = request.POST if request.method == "POST" else request.GET
    picked, _, picked_id = data.get("scope_pick", "").partition("=")  # the plain form's "team=3" choice
    for scope, model in ((Scope.COST_CENTER, CostCenter), (Scope.TEAM, Team)):
        raw = data.get(scope) or (picked_id if picked == scope else "")
        if raw:
            try:
                return scope, model.objects.get(pk=int(raw))
            except (ValueError, model.DoesNotExist):
                return None
    return None


def _set_page(request: HttpRequest, quarter: Quarter) -> HttpResponse:
    """The full form: pick a cost center or team, amount and kind (without JavaScript)."""
    scopes = [(f"cost_center={cc.pk}", f"Cost center {cc}") for cc in CostCenter.objects.all()] + [
        (f"team={t.pk}", f"Team {t} ({t.cost_center.code})") for t in Team.objects.select_related("cost_center")
    ]
    return render(request, "budgets/set.html", {"quarter": quarter, "scopes": scopes, "form": AmountForm()})


@login_required
def copy_previous(request: HttpRequest) -> HttpResponse:
    """Finance copies last quarter's budgets into this one (confirmation first; existing budgets are kept)."""
    if not Access.for_request(request).is_finance:
        raise PermissionDenied
    quarter = _quarter_post(request)
    previous = quarter.previous()
    if request.method == "POST":
        count = services.budgets_copy_from_previous_quarter(quarter=quarter, by=request.user)
        messages.success(request, f"Copied {count} budget{'s' if count != 1 else ''} from {previous} into {quarter}.")
        return redirect(reverse("budgets:overview") + f"?quarter={quarter}")
    source = Budget.objects.filter(quarter=previous.name)
    taken = {b.scope_key for b in Budget.objects.filter(quarter=quarter.name)}
    to_copy = [b for b in source.select_related("cost_center", "team", "project", "user") if b.scope_key not in taken]
    return render(
        request,
        "budgets/copy.html",
        {
            "quarter": quarter,
            "previous": previous,
            "to_copy": to_copy,
            "kept": len(taken),
            "source_count": source.count(),
        },
    )


# --- team page: the manager's split ------------------------------------------------------------------------


def _get_team_for_user(request: HttpRequest, pk: int) -> Team:
    """The team, if this person may see its budget page: its managers, finance and admins (404 for others)."""
    team = get_visible_or_404(request, Team.objects.select_related("cost_center"), pk=pk)
    access = Access.for_request(request)
    if not (access.can_manage(team) or access.sees_everything):
        raise PermissionDenied
    return team


def _split_rows(team: Team, quarter: Quarter, numbers: _Numbers) -> tuple[Budget | None, list[Row]]:
    budgets = {b.scope_key: b for b in Budget.objects.filter(quarter=quarter.name, team=team)}
    team_budget = budgets.get(scope_key(Scope.TEAM, team.pk))
    rows: list[Row] = []
    for project in Project.objects.filter(team=team, is_active=True):
        key = scope_key(Scope.PROJECT, project.pk)
        b = budgets.get(key)
        rows.append(Row(Scope.PROJECT, project, b, numbers.forecast(key, b and b.amount_usd)))
    members = Membership.objects.filter(team=team).select_related("user").order_by("-role", "user__full_name")
    for membership in members:
        key = scope_key(Scope.USER, membership.user_id)
        b = budgets.get(key)
        if b is None:
            # A person's budget may be a slice of another of their teams: show it, but it is not this team's.
            b = Budget.objects.filter(quarter=quarter.name, scope=Scope.USER, user_id=membership.user_id).first()
        rows.append(Row(Scope.USER, membership.user, b, numbers.forecast(key, b and b.amount_usd)))
        rows[-1].role = membership.get_role_display()
    return team_budget, rows


def _team_context(request: HttpRequest, team: Team, quarter: Quarter) -> dict[str, Any]:
    numbers = _Numbers(quarter)
    access = Access.for_request(request)
    team_budget, rows = _split_rows(team, quarter, numbers)
    key = scope_key(Scope.TEAM, team.pk)
    fc = numbers.forecast(key, team_budget and team_budget.amount_usd)
    allocated = sum((r.budget.amount_usd for r in rows if r.budget and r.budget.team_id == team.pk), ZERO)
    daily = daily_spend(budget=Budget(scope=Scope.TEAM, team=team), start=quarter.start, end=quarter.end)
    return {
        "team": team,
        "quarter": quarter,
        "is_current": quarter == Quarter.current(),
        "team_budget": team_budget,
        "team_fc": fc,
        "rows": rows,
        "allocated": allocated,
        "unallocated": (team_budget.amount_usd - allocated) if team_budget else None,
        "allocated_percent": int(min(100, allocated * 100 / team_budget.amount_usd))
        if team_budget and team_budget.amount_usd
        else 0,
        "chart": _burndown(team_budget, numbers, key, fc, daily),
        "can_edit": access.can_manage(team) or access.is_finance,
        "suspended_keys": Key.objects.filter(
            team=team, status=Key.Status.SUSPENDED, enforcement__suspended_by__in=["budget", "runaway"]
        ).select_related("owner_user", "owner_project", "enforcement"),
        "pending_bumps": BudgetRequest.objects.filter(team=team, state=BudgetRequest.State.PENDING).select_related(
            "requester", "budget__project", "budget__user", "budget__team"
        ),
        "forecast_method": FORECAST_METHOD,
    }


@login_required
def team(request: HttpRequest, pk: int) -> HttpResponse:
    team = _get_team_for_user(request, pk)
    template = "budgets/team.html"
    if request.htmx:
        template += "#allocation"
    return render(request, template, _team_context(request, team, _quarter(request)))


@login_required
def team_split(request: HttpRequest, pk: int) -> HttpResponse:
    """One line of the split table: GET an edit form (htmx), POST a new amount for a project or a person."""
    team = _get_team_for_user(request, pk)
    access = Access.for_request(request)
    if not (access.can_manage(team) or access.is_finance):
        raise PermissionDenied
    quarter = _quarter_post(request)
    data = request.POST if request.method == "POST" else request.GET
    try:
        if data.get("project"):
            scope, obj = Scope.PROJECT, Project.objects.get(pk=int(data["project"]), team=team)
        elif data.get("user"):
            scope, obj = (
                Scope.USER,
                Membership.objects.select_related("user").get(user_id=int(data["user"]), team=team).user,
            )
        else:
            return redirect(reverse("budgets:team", args=[team.pk]))
    except (ValueError, Project.DoesNotExist, Membership.DoesNotExist):
        return redirect(reverse("budgets:team", args=[team.pk]))
    key = scope_key(scope, obj.pk)
    budget = Budget.objects.filter(quarter=quarter.name, scope=scope, **{f"{scope}_id": obj.pk}).first()
    error = ""
    cancelled = request.POST.get("cancel") is not None
    if request.method == "POST" and not cancelled:
        form = AmountForm(request.POST)
        if form.is_valid():
            try:
                budget = services.budget_split(
                    team=team,
                    by=request.user,
                    amount_usd=form.cleaned_data["amount_usd"],
                    hard=form.cleaned_data["hard"],
                    quarter=quarter,
                    **{scope: obj},
                )
            except ValidationError as e:
                error = " ".join(e.messages)
        else:
            error = form.error_text()
        if not request.htmx:
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"{budget.scope_title}: ${budget.amount_usd:,} in {quarter}.")
            return redirect(reverse("budgets:team", args=[team.pk]) + f"?quarter={quarter}")
    if request.method == "POST" and not error:
        numbers = _Numbers(quarter)
        row = Row(scope, obj, budget, numbers.forecast(key, budget and budget.amount_usd))
        response = render(
            request,
            "budgets/team.html#split_row",
            {"row": row, "team": team, "quarter": quarter, "can_edit": True, "saved": not cancelled},
        )
        return response if cancelled else trigger_client_event(response, "budget-changed")
    initial = {
        "amount_usd": budget.amount_usd if budget else None,
        "hard": "1" if (budget is None or budget.hard) else "0",
    }
    form = AmountForm(request.POST, initial=initial) if request.method == "POST" else AmountForm(initial=initial)
    context = {"scope": scope, "obj": obj, "budget": budget, "form": form, "error": error, "quarter": quarter}
    context.update(team=team, row_id=key.replace(":", "-"))
    if request.htmx:
        return render(request, "budgets/team.html#split_edit", context)
    return render(request, "budgets/set.html", {**context, "single": True, "team_split": True})


# --- one budget --------------------------------------------------------------------------------------------


def _get_budget_for_user(request: HttpRequest, pk: int) -> Budget:
    return get_visible_or_404(
        request, Budget.objects.select_related("cost_center", "team__cost_center", "project", "user"), pk=pk
    )


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    budget = _get_budget_for_user(request, pk)
    quarter = Quarter.parse(budget.quarter)
    numbers = _Numbers(quarter)
    fc = numbers.forecast(budget.scope_key, budget.amount_usd)
    daily = daily_spend(budget=budget, start=quarter.start, end=quarter.end)
    access = Access.for_request(request)
    parent = services.parent_budget(budget)
    bumps = budget.requests.select_related("requester", "decided_by")
    keys = _keys_of(budget)
    return render(
        request,
        "budgets/detail.html",
        {
            "budget": budget,
            "quarter": quarter,
            "fc": fc,
            "chart": _burndown(budget, numbers, budget.scope_key, fc, daily),
            "parent": parent,
            "bumps": bumps,
            "keys": keys,
            "alerts": budget.alerts.exclude(status=Alert.Status.SKIPPED)[:10],
            "timeline": _timeline(budget),
            "can_bump": services.bumpable_budgets(request.user).filter(pk=budget.pk).exists(),
            "can_edit": access.is_finance
            if budget.scope in (Scope.COST_CENTER, Scope.TEAM)
            else (access.can_manage(budget) or access.is_finance),
            "forecast_method": FORECAST_METHOD,
            "recent_days": [(d, daily.get(d, ZERO)) for d in _last_days(numbers, 14)],
        },
    )


def _last_days(numbers: _Numbers, n: int) -> list[date]:
    end = min(numbers.today, numbers.quarter.last_day)
    return [d for d in (end - timedelta(days=i) for i in range(n)) if d >= numbers.quarter.start]


def _keys_of(budget: Budget):
    keys = Key.objects.exclude(status=Key.Status.REVOKED).select_related("account", "owner_user", "owner_project")
    if budget.scope == Scope.USER:
        keys = keys.filter(owner_user=budget.user)
    elif budget.scope == Scope.PROJECT:
        keys = keys.filter(owner_project=budget.project)
    elif budget.scope == Scope.TEAM:
        keys = keys.filter(team=budget.team)
    else:
        keys = keys.filter(team__cost_center=budget.cost_center)
    return keys.select_related("enforcement")[:50]


# --- bumps -------------------------------------------------------------------------------------------------


@login_required
def bump_create(request: HttpRequest) -> HttpResponse:
    """Ask for more: one form (budget, amount, reason). Reachable from home and from a suspension notice."""
    template = "budgets/bump_form.html"
    initial: dict[str, Any] = {}
    if raw := request.GET.get("budget"):
        initial["budget"] = raw
    elif raw := request.GET.get("key"):
        initial.update(_budget_for_key(request, raw))
    form = BumpForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            bump = services.budget_request_create(
                requester=request.user, budget=data["budget"], amount_usd=data["amount_usd"], reason=data["reason"]
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if bump.auto_approved:
                text = f"Approved automatically by policy: +${bump.amount_usd:,} on {data['budget'].scope_label}."
            else:
                text = f"Request sent: the {bump.get_awaiting_step_display().lower()} decides. You'll be notified."
            if request.htmx and request.POST.get("inline"):
                return render(request, "budgets/_home.html#quick_done", {"bump": bump, "text": text})
            messages.success(request, text)
            if request.htmx:
                return HttpResponseClientRedirect(bump.get_absolute_url())
            return redirect(bump.get_absolute_url())
    if request.htmx and request.POST.get("inline"):
        return render(request, "budgets/_home.html#quick_form", {"quick_form": form, "budget_quick_default": None})
    policy = Policy.current()
    return render(
        request, template, {"form": form, "policy": policy, "has_budgets": form.fields["budget"].queryset.exists()}
    )


def _budget_for_key(request: HttpRequest, raw: str) -> dict[str, Any]:
    """Preselect the budget that suspended this key (from the suspension notice)."""
    try:
        key = get_visible_or_404(request, Key.objects.select_related("enforcement"), pk=int(raw))
    except (ValueError, Http404):  # a bad link just preselects nothing
        return {}
    state = getattr(key, "enforcement", None)
    if state is None or not state.scope_key:
        return {}
    scope, _, pk = state.scope_key.partition(":")
    budget = (
        Budget.objects.filter(quarter=Quarter.current().name, scope=scope, **{f"{scope}_id": int(pk)}).first()
        if pk.isdigit() and scope in Scope.values
        else None
    )
    return {"budget": budget.pk} if budget else {}


def _get_bump_for_user(request: HttpRequest, pk: int) -> BudgetRequest:
    return get_visible_or_404(
        request,
        BudgetRequest.objects.select_related(
            "requester", "team", "budget__team", "budget__project", "budget__user", "budget__cost_center", "decided_by"
        ),
        pk=pk,
    )


@login_required
def bump_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bump = _get_bump_for_user(request, pk)
    access = Access.for_request(request)
    _with_numbers([bump])
    budget = bump.budget
    quarter = Quarter.parse(budget.quarter)
    numbers = _Numbers(quarter)
    daily = daily_spend(budget=budget, start=quarter.start, end=quarter.end)
    return render(
        request,
        "budgets/bump_detail.html",
        {
            "bump": bump,
            "budget": budget,
            "quarter": quarter,
            "chart": _burndown(budget, numbers, budget.scope_key, bump.fc, daily),
            "history": budget.requests.exclude(pk=bump.pk).select_related("requester", "decided_by")[:10],
            "timeline": _timeline(bump, budget),
            "can_approve": access.can_approve(bump),
            "can_cancel": access.can_act_as_owner(bump) and bump.state == BudgetRequest.State.PENDING,
            "forecast_method": FORECAST_METHOD,
        },
    )


def _decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    bump = _get_bump_for_user(request, pk)
    error = ""
    try:
        if decision == "approve":
            bump = services.budget_request_approve(budget_request=bump, by=request.user)
        else:
            bump = services.budget_request_reject(
                budget_request=bump, by=request.user, reason=request.POST.get("reason", "")
            )
    except InvalidTransition as e:
        error = str(e)
    if request.htmx:
        bump = _get_bump_for_user(request, pk)
        _with_numbers([bump])
        return render(
            request, "budgets/_bump_approvals.html#bump_row", {"bump": bump, "decided": not error, "error": error}
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Budget request #{bump.pk}: {bump.get_state_display().lower()}.")
    return redirect(request.POST.get("next") or bump.get_absolute_url())


@login_required
@require_POST
def bump_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "approve")


@login_required
@require_POST
def bump_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "reject")


@login_required
@require_POST
def bump_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    bump = _get_bump_for_user(request, pk)
    try:
        services.budget_request_cancel(budget_request=bump, by=request.user)
        messages.success(request, "Request cancelled.")
    except InvalidTransition as error:
        messages.error(request, str(error))
    return redirect(bump.get_absolute_url())


# --- alerts ------------------------------------------------------------------------------------------------


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    alerts = access.visible(Alert.objects.all(), user="user").select_related("team", "user", "key")
    kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
    if kind in Alert.Kind.values:
        alerts = alerts.filter(kind=kind)
    if status in Alert.Status.values:
        alerts = alerts.filter(status=status)
    else:
        alerts = alerts.exclude(status=Alert.Status.SKIPPED)
    page = Paginator(alerts, 40).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    policy = Policy.current()
    return render(
        request,
        "budgets/alerts.html",
        {
            "page": page,
            "kind": kind,
            "status": status,
            "kinds": Alert.Kind.choices,
            "statuses": Alert.Status.choices,
            "query": query.urlencode(),
            "can_retry": access.sees_everything or access.is_manager,
            "is_admin": access.is_admin,
            "policy": policy,
            "finance_webhook": bool(policy.finance_slack_webhook_url),
        },
    )


@login_required
@require_POST
def alert_retry(request: HttpRequest, pk: int) -> HttpResponse:
    access = Access.for_request(request)
    alert = get_visible_or_404(request, Alert.objects.all(), pk=pk)
    if not (access.sees_everything or (alert.team_id and alert.team_id in access.managed_team_ids)):
        raise PermissionDenied
    alert_services.alert_retry(alert=alert, by=request.user)
    messages.success(request, "The alert is queued again.")
    return redirect(request.POST.get("next") or reverse("budgets:alerts"))


# --- Slack settings (admin) -------------------------------------------------------------------------------


def _masked(url: str) -> str:
    return f"…{url[-6:]}" if url else ""


@login_required
def slack_settings(request: HttpRequest) -> HttpResponse:
    """Incoming webhooks: one per team, one for finance. Stored encrypted; never shown back in full."""
    access = Access.for_request(request)
    if not access.is_admin:
        raise PermissionDenied
    policy = Policy.current()
    teams = list(Team.objects.select_related("cost_center"))
    if request.method == "POST":
        if test := request.POST.get("test"):
            url = (
                policy.finance_slack_webhook_url
                if test == "finance"
                else next((t.slack_webhook_url for t in teams if f"team-{t.pk}" == test), "")
            )
            if not url:
                messages.error(request, "That destination has no webhook yet.")
            else:
                try:
                    slack.post_webhook(url, {"text": "Allocator test message: alerts for this channel arrive here."})
                    messages.success(request, "Slack accepted the test message.")
                except slack.SlackError as error:
                    messages.error(request, f"Slack refused the test message: {error}")
            return redirect("budgets:slack_settings")
        changed = []
        errors = []
        for name, obj, attr in [("finance", policy, "finance_slack_webhook_url")] + [
            (f"team-{t.pk}", t, "slack_webhook_url") for t in teams
        ]:
            value = request.POST.get(name, "").strip()
            if request.POST.get(f"{name}-clear"):
                value = ""
            elif not value:
                continue
            elif not value.startswith(("https://", "http://")):
                errors.append(
                    f"{obj if obj is not policy else 'Finance'}: a webhook is a URL (https://hooks.slack.com/…)."
                )
                continue
            setattr(obj, attr, value)
            obj.save(update_fields=[attr])
            changed.append(str(obj) if obj is not policy else "finance")
        for error in errors:
            messages.error(request, error)
        if changed:
            AuditEvent.record("slack.webhooks_changed", actor=request.user, destinations=changed)
            messages.success(request, f"Saved: {', '.join(changed)}.")
        return redirect("budgets:slack_settings")
    return render(
        request,
        "budgets/slack_settings.html",
        {
            "finance_hint": _masked(policy.finance_slack_webhook_url),
            "teams": [(t, _masked(t.slack_webhook_url)) for t in teams],
            "signing_secret_set": bool(settings.SLACK_SIGNING_SECRET),
            "interactions_url": request.build_absolute_uri(reverse("budgets:slack_interactions")),
        },
    )
