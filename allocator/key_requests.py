"""Key requests: filing one through policy (auto-approve, manager, manager + finance), cancelling, retrying a
failed mint. Deciding a request is allocator.approvals; minting is allocator.keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Project, Team, User
from accounts.permissions import Access
from accounts.services import notify
from allocator.keys import MINT_CLAIM_TIMEOUT, key_mint_enqueue
from allocator.models import PURPOSE_MAX_LENGTH, KeyRequest, Policy, ProviderAccount
from allocator.money import ZERO, amount_error, usd
from allocator.quarters import Quarter
from budgets.models import Budget, Scope, scope_key
from budgets.spend import scope_ids, spend_of_scopes


def key_request_create(
    *,
    requester: User,
    account: ProviderAccount,
    team: Team,
    project: Project | None,
    name: str,
    purpose: str,
    allowance_usd: Decimal,
    expires_on=None,
) -> KeyRequest:
    """File a key request and route it through policy (auto-approve, manager, manager + finance)."""
    errors = _request_errors(
        requester=requester, account=account, team=team, project=project, allowance_usd=allowance_usd
    )
    errors.update(_text_errors(name=name, purpose=purpose))
    if expires_on is not None and expires_on <= timezone.localdate():
        errors["expires_on"] = "The expiry date must be in the future."
    if errors:
        raise ValidationError(errors)

    policy = Policy.current()
    auto_limit, finance_above = account.approval_limits(policy)
    with transaction.atomic():
        key_request = KeyRequest(
            requester=requester,
            account=account,
            team=team,
            project=project,
            name=name.strip(),
            purpose=purpose.strip(),
            allowance_usd=allowance_usd,
            expires_on=expires_on,
        )
        over = key_request_over_budget(key_request=key_request)
        key_request.submit(auto_limit=auto_limit, finance_above=finance_above, over_budget=over is not None)
        key_request.save()
        AuditEvent.record(
            "key_request.created",
            actor=requester,
            target=key_request,
            allowance_usd=str(allowance_usd),
            account=account.name,
        )
        if over is not None and key_request.allowance_usd <= auto_limit:
            AuditEvent.record("key_request.auto_approval_withheld", target=key_request, reason=over.refusal)
        if key_request.auto_approved:
            AuditEvent.record("key_request.auto_approved", target=key_request, limit_usd=str(auto_limit))
            key_mint_enqueue(key_request=key_request)
        else:
            key_request_announce(key_request=key_request)
    return key_request


@dataclass(frozen=True)
class OwnerBudget:
    """One budget a new key would count against this quarter, with what is spent of it."""

    budget: Budget
    spent: Decimal

    @property
    def percent(self) -> int:
        return int(self.spent * 100 / self.budget.amount_usd) if self.budget.amount_usd > 0 else 100

    @property
    def over(self) -> bool:
        """A hard budget with nothing left: enforcement would suspend a new key at once."""
        return self.budget.hard and self.budget.amount_usd - self.spent <= 0

    @property
    def refusal(self) -> str:
        return (
            f"The hard budget is spent for {self.budget.scope_label} ({usd(self.spent)} of "
            f"{usd(self.budget.amount_usd)} in {self.budget.quarter}): a new key would be suspended at once. "
            "Raise the budget first (a bump), or reject the request."
        )


def _owner_scope_keys(key_request: KeyRequest) -> list[str]:
    """The budget scopes a key from this request counts against: its owner, its team, the team's cost center."""
    owner = (
        scope_key(Scope.PROJECT, key_request.project_id)
        if key_request.project_id
        else scope_key(Scope.USER, key_request.requester_id)
    )
    return [
        owner,
        scope_key(Scope.TEAM, key_request.team_id),
        scope_key(Scope.COST_CENTER, key_request.team.cost_center_id),
    ]


def key_requests_owner_budgets(*, key_requests: list[KeyRequest]) -> dict[int, list[OwnerBudget]]:
    """Per request: the current quarter's budgets a key from it counts against, tightest first. Two to six
    queries for a whole list page, however many requests it lists."""
    if not key_requests:
        return {}
    quarter = Quarter.current()
    wanted = {key for kr in key_requests for key in _owner_scope_keys(kr)}
    ids = scope_ids(wanted)
    scopes = Q(pk__in=[])
    for scope in (Scope.USER, Scope.PROJECT, Scope.TEAM, Scope.COST_CENTER):
        if ids.get(scope):
            scopes |= Q(scope=scope, **{f"{scope}_id__in": ids[scope]})
    budgets = Budget.objects.filter(scopes, quarter=quarter.name).select_related(
        "team", "project", "user", "cost_center"
    )
    by_key = {b.scope_key: b for b in budgets}
    spend = spend_of_scopes(quarter=quarter, keys=by_key)
    lines: dict[int, list[OwnerBudget]] = {}
    for kr in key_requests:
        mine = [OwnerBudget(budget=by_key[k], spent=spend.get(k, ZERO)) for k in _owner_scope_keys(kr) if k in by_key]
        lines[kr.pk] = sorted(mine, key=lambda line: line.budget.amount_usd - line.spent)
    return lines


def key_request_owner_budgets(*, key_request: KeyRequest) -> list[OwnerBudget]:
    """The current quarter's budgets a key from this request counts against (its owner's, its team's, the cost
    center's), tightest first."""
    return key_requests_owner_budgets(key_requests=[key_request])[key_request.pk]


def key_request_over_budget(*, key_request: KeyRequest) -> OwnerBudget | None:
    """The spent hard budget that stops this request, if any (the tightest)."""
    return next((line for line in key_request_owner_budgets(key_request=key_request) if line.over), None)


def _request_errors(
    *, requester: User, account: ProviderAccount, team: Team, project: Project | None, allowance_usd: Decimal
) -> dict[str, str]:
    """Who may charge what to which account, and the allowance's bounds."""
    errors: dict[str, str] = {}
    if not account.enabled:
        errors["account"] = "This provider account is disabled."
    elif not account.capabilities.mint:
        errors["account"] = (
            f"{account.get_kind_display()} keys cannot be created through its API; "
            "ask an admin to import an existing key for you."
        )
    if not requester.is_admin and not Membership.objects.filter(user=requester, team=team).exists():
        errors["team"] = "You can only charge keys to a team you belong to."
    if project is not None and project.team_id != team.pk:
        errors["project"] = "That project belongs to another team."
    if (problem := amount_error(allowance_usd)) is not None:
        errors["allowance_usd"] = f"The quarterly allowance: {problem[0].lower()}{problem[1:]}"
    return errors


def _text_errors(*, name: str, purpose: str) -> dict[str, str]:
    """Free text checked against its column (name) or its bound (purpose) before anything is written."""
    errors: dict[str, str] = {}
    name_limit = KeyRequest._meta.get_field("name").max_length
    if not name.strip():
        errors["name"] = "Give the key a short name."
    elif len(name.strip()) > name_limit:
        errors["name"] = f"Keep the name to at most {name_limit} characters."
    if not purpose.strip():
        errors["purpose"] = "Say what the key is for."
    elif len(purpose.strip()) > PURPOSE_MAX_LENGTH:
        errors["purpose"] = f"Keep the purpose to at most {PURPOSE_MAX_LENGTH:,} characters."
    return errors


def key_request_announce(*, key_request: KeyRequest) -> None:
    """Tell whoever decides the step the request now waits for (the Slack buttons come from budgets.alerts)."""
    if key_request.awaiting_step == KeyRequest.Step.FINANCE:
        text = (
            f"{key_request.requester}'s key request “{key_request.name}” (${key_request.allowance_usd}) "
            "needs finance approval."
        )
    else:
        text = (
            f"{key_request.requester} asks for a {key_request.account.name} key “{key_request.name}” "
            f"(${key_request.allowance_usd}/quarter)."
        )
    notify(users=key_request.next_approvers(), text=text, url=reverse("allocator:approvals"))


@transaction.atomic
def key_request_retry(*, key_request: KeyRequest, by: User) -> KeyRequest:
    """Put a failed mint back in the queue."""
    key_request = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
    if not Access(by).can_act_as_owner(key_request):
        raise PermissionDenied("Only the requester, their manager or an admin can retry.")
    key_request.retry()
    key_request.attempts = 0
    key_request.mint_claimed_at = None
    key_request.save()
    AuditEvent.record("key_request.retried", actor=by, target=key_request)
    key_mint_enqueue(key_request=key_request)
    return key_request


# An approved request this long untouched (no claim, no failed attempt) with no key lost its mint task: the broker
# was down when it was approved, or the message was lost. Long enough that a task in its backoff is not overtaken.
MINT_SWEEP_AFTER = timedelta(minutes=5)


def key_requests_unminted(*, now=None) -> list[int]:
    """Ids of approved requests that have waited MINT_SWEEP_AFTER for a key with nobody minting them."""
    now = now or timezone.now()
    return list(
        KeyRequest.objects.filter(state=KeyRequest.State.APPROVED, key__isnull=True)
        .filter(updated_at__lte=now - MINT_SWEEP_AFTER)
        .filter(Q(mint_claimed_at__isnull=True) | Q(mint_claimed_at__lte=now - MINT_CLAIM_TIMEOUT))
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )

