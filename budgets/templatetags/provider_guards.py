"""Which guard holds spend between syncs, per provider, on key and budget pages (budgets/provider_caps.py keeps the
provider-side limits these panels show). The sentences come from each provider's declared capabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from allocator.models import Key, ProviderAccount
from allocator.providers.base import GUARD_NEXT_SYNC, GUARD_PROVIDER_MONTHLY
from budgets.models import Budget, Scope, scope_key
from budgets.provider_cap_models import ProviderCap

register = template.Library()


@dataclass
class Guard:
    account: ProviderAccount
    text: str
    cap: ProviderCap | None
    noun: str

    @property
    def unavailable(self) -> bool:
        return self.cap is not None and self.cap.state == ProviderCap.State.UNAVAILABLE


def _guard(account: ProviderAccount, cap: ProviderCap | None) -> Guard:
    adapter = account.adapter()
    text = adapter.guard_text()
    live = cap is not None and cap.state in (ProviderCap.State.IN_STEP, ProviderCap.State.RETRYING)
    if text == GUARD_PROVIDER_MONTHLY and not (live and cap.limit_usd is not None):
        text = GUARD_NEXT_SYNC  # mapped, but no limit holds there (yet): only the next sync catches it
    return Guard(account=account, text=text, cap=cap, noun=adapter.scope_noun)


def _key_scope(key: Key, per: str) -> str | None:
    if per == "team":
        return scope_key(Scope.TEAM, key.team_id)
    if per == "project" and key.owner_project_id:
        return scope_key(Scope.PROJECT, key.owner_project_id)
    return None


@register.inclusion_tag("budgets/_key_guard.html")
def key_guard(key: Key) -> dict[str, Any]:
    """The guard of one key, and its scope's provider-side limit and allowed models (one query)."""
    scope = _key_scope(key, key.account.adapter().scope_per)
    cap = ProviderCap.objects.filter(account_id=key.account_id, scope_key=scope).first() if scope else None
    return {"guard": _guard(key.account, cap)}


@register.inclusion_tag("budgets/_budget_guards.html")
def budget_guards(budget: Budget) -> dict[str, Any]:
    """Per enabled provider account: which guard holds this budget's keys, and the limit kept for its scope there
    (two queries)."""
    accounts = list(ProviderAccount.objects.filter(enabled=True).order_by("name"))
    caps = {c.account_id: c for c in ProviderCap.objects.filter(scope_key=budget.scope_key)}
    return {"guards": [_guard(a, caps.get(a.pk)) for a in accounts], "budget": budget}
