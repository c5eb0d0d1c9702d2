"""Forms of the budget pages: a budget amount (set or split), a bump request (a budget or a key's allowance)
and the budget policy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import User
from allocator.forms import split_list
from allocator.models import Key
from allocator.money import MoneyField, usd
from budgets import bumps as bump_services
from budgets.models import MAX_CAPACITY_DAYS, MAX_CAPACITY_PERCENT, MAX_THRESHOLD, Budget, BudgetPolicy

REASON_MAX = 2000


class AmountForm(forms.Form):
    amount_usd = MoneyField(label="Amount (USD)")
    hard = forms.TypedChoiceField(
        label="Kind",
        choices=[("1", "Hard: suspend keys at 100\u00a0%"), ("0", "Soft: alerts only")],
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
    """A bump of one budget, or of one key's quarterly allowance: the `budget` choice is a budget's id, or
    "key:<id>" for a key (grouped "Budgets" / "Key allowances")."""

    budget = forms.ChoiceField(label="Budget or key allowance")
    amount_usd = MoneyField(label="Extra this quarter (USD)", min_value=Decimal("1"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What is it for? e.g. eval run for the new ranker"}),
        max_length=REASON_MAX,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budgets = {str(b.pk): b for b in bump_services.bumpable_budgets(user)}
        self.keys = {f"key:{k.pk}": k for k in bump_services.bumpable_keys(user)}
        groups: list[tuple[str, list[tuple[str, str]]]] = []
        if self.budgets:
            groups.append(
                (
                    "Budgets",
                    [(v, f"{b.scope_label} — {usd(b.amount_usd)} ({b.kind_label})") for v, b in self.budgets.items()],
                )
            )
        if self.keys:
            groups.append(
                ("Key allowances", [(v, f"key {k.name} — {usd(k.limit_usd)} a quarter") for v, k in self.keys.items()])
            )
        self.fields["budget"].choices = groups

    @property
    def has_targets(self) -> bool:
        return bool(self.budgets or self.keys)

    def clean_budget(self) -> Budget | Key:
        value = self.cleaned_data["budget"]
        return self.budgets.get(value) or self.keys[value]

    def target(self) -> dict[str, Budget | Key]:
        """The chosen target as the bump service's keyword: {"budget": ...} or {"key": ...}."""
        chosen = self.cleaned_data["budget"]
        return {"key": chosen} if isinstance(chosen, Key) else {"budget": chosen}


class BudgetPolicyForm(forms.ModelForm):
    """Alerts and enforcement, shown on the policy page beside allocator.forms.PolicyForm."""

    SECTIONS = [
        (
            "Alerts and enforcement",
            ["alert_thresholds", "runaway_multiplier", "runaway_min_usd", "suspend_on_runaway", "forecast_alert_days"],
        ),
        ("Leaderboards: who sees whom", ["engineers_see_names", "managers_see_other_teams"]),
        ("Caps at the provider", ["degrade_at_percent", "fast_lane_percent", "fast_lane_calls_per_minute"]),
        ("Capacity alerts", ["capacity_alert_percent", "capacity_crossover_days"]),
    ]

    alert_thresholds = forms.CharField(
        label="Alert thresholds (% of budget)",
        max_length=200,
        help_text="Percentages separated by commas, e.g. 50, 80, 100. Each crossing alerts once per scope and quarter.",
    )
    runaway_min_usd = MoneyField(label="Runaway: ignore hours under (USD)")
    degrade_at_percent = forms.IntegerField(
        label="Cheaper models only from (% of a hard budget)",
        min_value=0,
        max_value=100,
        required=False,
        help_text=(
            "Scopes mapped to a provider project, workspace or guardrail keep only small-tier models from here "
            "until the budget is raised or the quarter turns; 0 turns it off."
        ),
    )
    fast_lane_percent = forms.IntegerField(
        label="Sync every minute from (% of a hard budget)",
        min_value=0,
        max_value=100,
        required=False,
        help_text="Keys of scopes past this share, and runaway keys, are synced and enforced every minute; 0 = never.",
    )
    fast_lane_calls_per_minute = forms.IntegerField(
        label="Fast lane: provider calls a minute, at most", min_value=1, max_value=600, required=False
    )
    capacity_alert_percent = forms.IntegerField(
        label="Capacity: alert when a peak minute reaches (% of a rate limit)",
        min_value=1,
        max_value=MAX_CAPACITY_PERCENT,
        required=False,
        error_messages={
            "max_value": "A share of a limit is at most %(limit_value)s %%.",
            "min_value": "A share of a limit is at least %(limit_value)s %%.",
        },
    )
    capacity_crossover_days = forms.IntegerField(
        label="Capacity: alert when the projected crossover is fewer than (days) away",
        min_value=1,
        max_value=MAX_CAPACITY_DAYS,
        required=False,
        error_messages={
            "max_value": "The crossover is projected at most %(limit_value)s days ahead.",
            "min_value": "At least %(limit_value)s day.",
        },
    )
    KEEP_WHEN_BLANK = ("degrade_at_percent", "fast_lane_percent", "fast_lane_calls_per_minute")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.KEEP_WHEN_BLANK:  # a form without these fields keeps what is stored
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = getattr(self.instance, name)
        return cleaned

    class Meta:
        model = BudgetPolicy
        fields = [
            "alert_thresholds",
            "runaway_multiplier",
            "runaway_min_usd",
            "suspend_on_runaway",
            "forecast_alert_days",
            "engineers_see_names",
            "managers_see_other_teams",
            "degrade_at_percent",
            "fast_lane_percent",
            "fast_lane_calls_per_minute",
            "capacity_alert_percent",
            "capacity_crossover_days",
        ]
        labels = {
            "engineers_see_names": "Engineers see names on their teams' leaderboards",
            "managers_see_other_teams": "Managers see other teams' leaderboards",
            "runaway_multiplier": "Runaway: last hour vs usual hourly spend (×)",
            "suspend_on_runaway": "Suspend a runaway key at once",
            "forecast_alert_days": "Forecast alert: when a budget's trend line runs out within this many days of today",
        }
        help_texts = {
            "runaway_multiplier": "A key spending this many times its trailing hourly baseline raises an alert.",
            "forecast_alert_days": "Any day of the quarter, once per budget amount; needs a week of spend, and one "
            "runaway day does not raise it.",
            "engineers_see_names": "Off: an engineer sees only their own position (top 20 % of the team by spend, "
            "cache share against the team median), never a colleague's name. Finance and admins see everything.",
            "managers_see_other_teams": "Off: a manager's boards cover only the teams they manage.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["alert_thresholds"] = ", ".join(str(t) for t in self.instance.thresholds)
        # Blank keeps the server's setting; the help text says which value that is.
        percent = settings.CAPACITY_ALERT_PERCENT
        self.fields["capacity_alert_percent"].help_text = (
            f"Once per limit and quarter. Blank: the server's CAPACITY_ALERT_PERCENT ({percent})."
        )
        self.fields["capacity_crossover_days"].help_text = (
            "Projected from the daily peaks' trend. "
            f"Blank: the server's CAPACITY_CROSSOVER_DAYS ({settings.CAPACITY_CROSSOVER_DAYS})."
        )

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean_alert_thresholds(self) -> list[int]:
        # "50, 80, 100"; the JSON list form ("[50, 80, 100]") still reads the same.
        parts = split_list(self.cleaned_data.get("alert_thresholds", "").strip().strip("[]").replace(" ", ","))
        try:
            values = [int(part) for part in parts]
        except ValueError:
            values = []
        if not values or not all(0 < v <= MAX_THRESHOLD for v in values):
            raise ValidationError(
                f"Give whole percentages between 1 and {MAX_THRESHOLD}, separated by commas, e.g. 50, 80, 100."
            )
        return sorted(set(values))
