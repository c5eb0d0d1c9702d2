"""Demo budgets for this quarter and the last, sized from the usage already recorded. Idempotent.

Run it after the demo usage is in (seed_demo does): every cost center, team and project and most people get a
budget sized so the current spend sits at a planned share of it: some scopes under half, some past 50 % and
80 %, a few past 100 % (Erin's own hard budget, so her key is suspended and a bump in the browser brings it
back; one soft team, which only alerts). Existing budgets are kept unless --resize is given.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import cycle

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.models import Key
from allocator.quarters import Quarter
from budgets.allocation import budgets_copy_missing
from budgets.models import Budget, Scope, scope_key
from budgets.spend import KEY_SCOPE, scope_spend

# Share of the budget already spent, per scope (cycled in a fixed order so the demo is the same every time).
# Teams: (share, split among projects and people?). A split team sits below its slices on average (the
# slices cannot add up to more than the team), so the teams past 80 % and 100 % are the unsplit ones; the
# one past 100 % is soft, so it only alerts.
TEAM_PLAN = [("0.45", True), ("0.86", False), ("0.38", True), ("1.07", False), ("0.52", True), ("0.58", True)]
PROJECT_SHARES = [Decimal(s) for s in ("0.42", "0.71", "0.91", "0.55", "0.62")]
PEOPLE_SHARES = [Decimal(s) for s in ("0.61", "0.56", "0.66", "0.87", "0.45", "0.74", "0.52")]
HERO_EMAIL, HERO_SHARE = "engineer@example.com", Decimal("1.04")
# Keys' quarterly allowances, raised (never lowered) so spend sits at these shares: all under 100 %, one past 80 %.
KEY_SHARES = [Decimal(s) for s in ("0.38", "0.57", "0.46", "0.83", "0.64", "0.51")]
# Used while a scope has no spend yet.
DEFAULTS = {Scope.TEAM: Decimal("6000"), Scope.PROJECT: Decimal("100"), Scope.USER: Decimal("250")}


def _amount(spent: Decimal, share: Decimal, default: Decimal, step: Decimal) -> Decimal:
    """spent / share, rounded to a tidy step: down when the scope should be over budget, up otherwise."""
    if spent <= 0:
        return default
    rounding = ROUND_FLOOR if share > 1 else ROUND_CEILING
    return max(step, ((spent / share) / step).to_integral_value(rounding) * step)


def _has_budget_elsewhere(person: User, *, team: Team, quarter: Quarter, wanted: list[Budget]) -> bool:
    """A person's budget is a slice of one team: skip them if another team (or this run) already has it."""
    if any(b.scope == Scope.USER and b.user_id == person.pk for b in wanted):
        return True
    return Budget.objects.filter(scope=Scope.USER, user=person, quarter=quarter.name).exclude(team=team).exists()


class Command(BaseCommand):
    help = "Create demo budgets (current and previous quarter) sized from recorded usage."

    def add_arguments(self, parser):
        parser.add_argument("--resize", action="store_true", help="Re-size existing demo budgets to current spend.")
        parser.add_argument("--enforce", action="store_true", help="Run enforcement afterwards (alerts, suspensions).")

    def handle(self, *args, **options):
        quarter = Quarter.current()
        with transaction.atomic():
            created, resized = self._seed(quarter, resize=options["resize"])
            copied = self._copy_back(quarter)
            raised = self._size_allowances(quarter)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo budgets for {quarter}: {created} created, {resized} resized; {copied} copied into "
                f"{quarter.previous()} for history; {_count(raised, 'key allowance')} raised to fit their spend."
            )
        )
        if options["enforce"]:
            from budgets.enforce import enforce_budgets

            report = enforce_budgets()
            self.stdout.write(
                f"Enforcement: {_count(report.alerts_created, 'alert')}, {_count(len(report.suspended), 'key')} "
                f"suspended, {len(report.runaway)} runaway."
            )

    def _seed(self, quarter: Quarter, *, resize: bool) -> tuple[int, int]:
        spend = scope_spend(quarter=quarter)
        setter = User.objects.filter(role=User.Role.FINANCE).order_by("pk").first()
        existing = {b.scope_key: b for b in Budget.objects.filter(quarter=quarter.name)}
        wanted: list[Budget] = []

        def want(scope: str, amount: Decimal, *, hard: bool = True, **fields) -> Budget:
            budget = Budget(
                scope=scope,
                quarter=quarter.name,
                quarter_start=quarter.start,
                amount_usd=amount,
                hard=hard,
                set_by=setter,
                **fields,
            )
            wanted.append(budget)
            return budget

        plans, project_shares, people_shares = cycle(TEAM_PLAN), cycle(PROJECT_SHARES), cycle(PEOPLE_SHARES)
        team_totals: dict[int, Decimal] = {}
        for team in Team.objects.order_by("name"):
            raw_share, split = next(plans)
            team_share = Decimal(raw_share)
            hero_here = Membership.objects.filter(team=team, user__email=HERO_EMAIL).exists()
            split = split or hero_here
            children = Decimal("0")
            for project in Project.objects.filter(team=team, is_active=True).order_by("name") if split else []:
                key = scope_key(Scope.PROJECT, project.pk)
                amount = _amount(spend.get(key, Decimal(0)), next(project_shares), DEFAULTS[Scope.PROJECT], Decimal(10))
                want(Scope.PROJECT, amount, project=project, team=team)
                children += amount
            members = Membership.objects.filter(team=team).select_related("user").order_by("user__email")
            for n, membership in enumerate(members if split else []):
                person = membership.user
                if person.role != User.Role.ENGINEER or person.email.startswith("admin"):
                    continue
                if _has_budget_elsewhere(person, team=team, quarter=quarter, wanted=wanted):
                    continue
                share = HERO_SHARE if person.email == HERO_EMAIL else next(people_shares)
                if n % 4 == 3 and person.email != HERO_EMAIL:
                    continue  # most people, not all: the rest share the team budget
                key = scope_key(Scope.USER, person.pk)
                if not spend.get(key) and any(spend.values()):
                    continue  # no spend of their own yet (no key): the team budget covers them
                amount = _amount(spend.get(key, Decimal(0)), share, DEFAULTS[Scope.USER], Decimal(5))
                want(Scope.USER, amount, user=person, team=team)
                children += amount
            key = scope_key(Scope.TEAM, team.pk)
            amount = _amount(spend.get(key, Decimal(0)), team_share, DEFAULTS[Scope.TEAM], Decimal(50))
            if team_share <= 1 and amount < children:
                amount = (children * Decimal("1.1") / 50).to_integral_value(ROUND_CEILING) * 50  # room for the split
            want(Scope.TEAM, amount, hard=team_share <= 1, team=team)
            team_totals[team.pk] = amount
        for cc in CostCenter.objects.order_by("code"):
            total = sum((team_totals.get(t.pk, Decimal(0)) for t in cc.teams.all()), Decimal(0))
            amount = max(Decimal(1000), (total * Decimal("1.15") / 100).to_integral_value(ROUND_CEILING) * 100)
            want(Scope.COST_CENTER, amount, hard=False, cost_center=cc)

        return self._save(wanted, existing=existing, resize=resize, setter=setter)

    def _save(
        self, wanted: list[Budget], *, existing: dict[str, Budget], resize: bool, setter: User | None
    ) -> tuple[int, int]:
        """Create the budgets that are missing; with --resize, re-size the ones that differ."""
        created = resized = 0
        for budget in wanted:
            old = existing.get(budget.scope_key)
            if old is None:
                budget.save()
                created += 1
            elif resize and (old.amount_usd, old.hard) != (budget.amount_usd, budget.hard):
                old.amount_usd, old.hard, old.set_by = budget.amount_usd, budget.hard, setter
                old.save(update_fields=["amount_usd", "hard", "set_by", "updated_at"])
                resized += 1
        return created, resized

    def _copy_back(self, quarter: Quarter) -> int:
        """Give last quarter the same budgets, so the overview has history and copying has a source."""
        return budgets_copy_missing(source=quarter, target=quarter.previous())

    def _size_allowances(self, quarter: Quarter) -> int:
        """Raise the allowance of demo keys whose spend would otherwise be past it (the demo usage is sized for
        budgets, not for the small auto-approved allowances), so a key's allowance is not what stops it."""
        spend = scope_spend(quarter=quarter)
        shares = cycle(KEY_SHARES)
        raised = []
        for key in Key.objects.exclude(status=Key.Status.REVOKED).order_by("pk"):
            spent = spend.get(scope_key(KEY_SCOPE, key.pk), Decimal(0))
            wanted = _amount(spent, next(shares), Decimal(50), Decimal(5))
            if spent > 0 and (key.limit_usd or 0) < wanted:
                key.limit_usd = wanted
                raised.append(key)
        Key.objects.bulk_update(raised, ["limit_usd"])
        return len(raised)


def _count(number: int, noun: str) -> str:
    """Counts in the summary lines: "1 key", "3 keys"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
