"""Concentration: how much of the production ("run") spend sits on each provider and provider account, and which
run projects depend on one of them beyond the policy share (CONCENTRATION_SHARE_PERCENT, 90 % by default), since
an outage, a price change or a rate limit there hits them fully.

Run spend is the spend of keys owned by projects of kind "run" (accounts.models.Project.Kind), as the chargeback
splits build from run. Read from the daily rollups in one grouped query per quarter (account × project), never
from usage buckets; names come in two more queries.

Beside the spend share stands the share of peak demand (the busiest minute of tokens, from the capacity
feature's daily peaks: `peak_shares`), so a provider that carries little spend but much of the load shows too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from accounts.models import Project
from allocator.capacity.headroom import peak_share
from allocator.models import DailyRollup, ProviderAccount
from allocator.money import ZERO
from allocator.providers import kind_choices
from allocator.quarters import Quarter

HUNDRED = Decimal("100")


def policy_share() -> Decimal:
    """The share (0..1) of a run project's spend on one provider or account from which it is flagged."""
    return Decimal(settings.CONCENTRATION_SHARE_PERCENT) / HUNDRED


@dataclass
class Share:
    """One provider or account: its run spend and its share of all run spend (0..1)."""

    ref: str
    name: str
    cost: Decimal = ZERO
    share: Decimal | None = None
    projects: int = 0
    peak_share: Decimal | None = None  # share of peak demand, from the capacity feature (None: not known)


@dataclass
class ProjectDependence:
    """A run project's run spend and where it sits; `reason` says why it is flagged ("" when it is not)."""

    pk: int
    name: str
    team: str
    cost: Decimal
    top_account: Share
    top_provider: Share
    accounts: list[Share] = field(default_factory=list)
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.reason)


@dataclass
class Concentration:
    quarter: Quarter
    threshold: Decimal  # 0..1
    total: Decimal
    providers: list[Share]
    accounts: list[Share]
    projects: list[ProjectDependence]

    @property
    def flagged(self) -> list[ProjectDependence]:
        return [p for p in self.projects if p.flagged]


def peak_shares(quarter: Quarter) -> dict[str, Decimal]:
    """Share (0..1) of the quarter's peak demand (tokens per minute, every use, not only run) per "provider:<kind>"
    and "account:<name>", from the capacity feature's daily peaks (one query); empty when none were measured."""
    shares = peak_share(quarter)
    out = {f"provider:{kind}": Decimal(str(value)) for kind, value in shares["providers"].items()}
    out |= {f"account:{name}": Decimal(str(value)) for name, value in shares["accounts"].items()}
    return out


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return part / whole if whole else None


def concentration(*, quarter: Quarter, team_ids: frozenset[int] | None = None) -> Concentration:
    """Run spend by provider, by account and by run project in `quarter`, narrowed to the run projects of
    `team_ids` when given (a manager's teams). Three queries, however much usage there is."""
    rows = DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end, owner_project__kind=Project.Kind.RUN)
    if team_ids is not None:
        rows = rows.filter(owner_project__team_id__in=team_ids)
    grouped = list(rows.values("account_id", "provider", "owner_project_id").annotate(cost=Sum("cost_usd")).order_by())
    account_names = dict(
        ProviderAccount.objects.filter(pk__in={r["account_id"] for r in grouped}).values_list("pk", "name")
    )
    projects = {
        p.pk: p for p in Project.objects.filter(pk__in={r["owner_project_id"] for r in grouped}).select_related("team")
    }
    provider_names = dict(kind_choices())
    by_provider: dict[str, Share] = {}
    by_account: dict[int, Share] = {}
    per_project: dict[int, list[dict]] = defaultdict(list)
    total = ZERO
    for row in grouped:
        cost = Decimal(row["cost"] or ZERO)
        total += cost
        provider = by_provider.setdefault(
            row["provider"], Share(row["provider"], provider_names.get(row["provider"], row["provider"]))
        )
        account = by_account.setdefault(
            row["account_id"], Share(str(row["account_id"]), account_names.get(row["account_id"], "?"))
        )
        provider.cost += cost
        account.cost += cost
        per_project[row["owner_project_id"]].append({**row, "cost": cost})
    peaks = peak_shares(quarter)
    measured = ZERO if peaks else None  # once any demand was measured, a provider or account without any has none
    for key, share in [*((f"provider:{k}", s) for k, s in by_provider.items()),
                       *((f"account:{s.name}", s) for s in by_account.values())]:  # fmt: skip
        share.share = _ratio(share.cost, total)
        share.peak_share = peaks.get(key, measured)
    threshold = policy_share()
    dependences = [
        _dependence(projects[pk], lines, provider_names, account_names, threshold)
        for pk, lines in per_project.items()
        if pk in projects
    ]
    for item in dependences:
        by_provider[item.top_provider.ref].projects += 1
        by_account[int(item.top_account.ref)].projects += 1
    dependences.sort(key=lambda d: (not d.flagged, -d.cost, d.name.lower()))
    return Concentration(
        quarter=quarter,
        threshold=threshold,
        total=total,
        providers=sorted(by_provider.values(), key=lambda s: (-s.cost, s.name)),
        accounts=sorted(by_account.values(), key=lambda s: (-s.cost, s.name)),
        projects=dependences,
    )


def _dependence(
    project: Project,
    lines: list[dict],
    provider_names: dict[str, str],
    account_names: dict[int, str],
    threshold: Decimal,
) -> ProjectDependence:
    cost = sum((line["cost"] for line in lines), ZERO)
    providers: dict[str, Decimal] = defaultdict(Decimal)
    accounts: dict[int, Share] = {}
    for line in lines:
        providers[line["provider"]] += line["cost"]
        share = accounts.setdefault(
            line["account_id"], Share(str(line["account_id"]), account_names.get(line["account_id"], "?"))
        )
        share.cost += line["cost"]
    for share in accounts.values():
        share.share = _ratio(share.cost, cost)
    ordered = sorted(accounts.values(), key=lambda s: (-s.cost, s.name))
    kind, provider_cost = max(providers.items(), key=lambda item: (item[1], item[0]))
    top_provider = Share(kind, provider_names.get(kind, kind), provider_cost, _ratio(provider_cost, cost))
    item = ProjectDependence(
        pk=project.pk,
        name=project.name,
        team=project.team.name,
        cost=cost,
        top_account=ordered[0],
        top_provider=top_provider,
        accounts=ordered,
    )
    item.reason = _reason(item, threshold)
    return item


def _reason(item: ProjectDependence, threshold: Decimal) -> str:
    """Why a project is flagged: the account when one account holds the share, else the provider."""
    if not item.cost:
        return ""
    consequence = "an outage, a price change or a rate limit there hits it fully"
    account, provider = item.top_account, item.top_provider
    if account.share is not None and account.share >= threshold:
        return f"{_percent(account.share)} of its run spend is on one account, {account.name}: {consequence}."
    if provider.share is not None and provider.share >= threshold:
        return f"{_percent(provider.share)} of its run spend is on one provider, {provider.name}: {consequence}."
    return ""


def _percent(share: Decimal) -> str:
    return f"{(share * HUNDRED).quantize(Decimal('1'))} %"
