"""The what-if form: GET parameters, every one bounded, turned into a Scenario (budgets.whatif.repricing)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms

from accounts.models import Project, Team
from allocator.providers import PROVIDERS, kind_choices
from allocator.quarters import Quarter
from allocator.usage.pricing import SMALL_TIER_RULE
from budgets.whatif.repricing import HUNDRED, Prices, Scenario

MAX_DAYS = 366  # a date range is at most this long


def _percent(label: str, low: int, high: int, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, required=False, min_value=Decimal(low), max_value=Decimal(high), max_digits=6, decimal_places=2,
        help_text=help_text, widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )  # fmt: skip


class WhatIfForm(forms.Form):
    quarter = forms.CharField(label="Quarter", required=False, max_length=16)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"A date range (both days included, at most {MAX_DAYS} days) instead of a quarter.",
    )  # fmt: skip
    shift_percent = _percent("Move share of large-model spend", 0, 100, "0 to 100 %.")
    shift_scope = forms.ChoiceField(label="Of", required=False)
    shift_target = forms.CharField(label="To the smaller model", required=False, max_length=160, widget=forms.Select)
    cache_percent = _percent("Cache-hit share at least", 0, 100, "0 to 100 % of input tokens read from the cache.")
    price_percent = _percent("Price change", -100, 1000, "-100 to +1000 %.")
    price_provider = forms.ChoiceField(label="On provider", required=False)
    price_model = forms.CharField(label="On model", required=False, max_length=128, help_text="Blank: every model.")

    def __init__(self, *args: Any, teams: list[Team], projects: list[Project], prices: Prices, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.teams = {team.pk: team for team in teams}
        self.projects = {project.pk: project for project in projects}
        self.prices = prices
        scopes = [("", "every team")]
        scopes += [(f"team:{t.pk}", f"Team {t.name}") for t in teams]
        scopes += [(f"project:{p.pk}", f"Project {p.name}") for p in projects]
        self.fields["shift_scope"].choices = scopes
        self.fields["price_provider"].choices = [("", "every provider"), *kind_choices()]
        self.fields["quarter"].help_text = f"Blank: the current one, {Quarter.current()}."
        self.fields["quarter"].widget.attrs["placeholder"] = str(Quarter.current())

    def set_targets(self, pairs: list[tuple[str, str]]) -> None:
        """Offer these small-tier models as shift targets (the ones used in the period)."""
        names = dict(kind_choices())
        choices = [("", "choose a model")] + [(f"{p}|{m}", f"{m} ({names.get(p, p)})") for p, m in pairs]
        chosen = self.data.get("shift_target") if self.is_bound else None
        if chosen and chosen not in {value for value, _ in choices} and "|" in chosen:
            provider, model = chosen.split("|", 1)
            choices.append((chosen, f"{model} ({names.get(provider, provider)})"))
        self.fields["shift_target"].widget.choices = choices

    def clean_quarter(self) -> Quarter | None:
        raw = self.cleaned_data.get("quarter", "")
        if not raw.strip():
            return None
        try:
            return Quarter.parse(raw)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_shift_target(self) -> tuple[str, str] | None:
        raw = self.cleaned_data.get("shift_target", "")
        if not raw:
            return None
        provider, _, model = raw.partition("|")
        if provider not in PROVIDERS or not model:
            raise forms.ValidationError("Choose one of the models offered.")
        tier = self.prices.tier(provider, model)
        if tier != "small":
            raise forms.ValidationError(f"{model} is not a small-tier model. {SMALL_TIER_RULE}")
        return provider, model

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None) and not (self.errors.get("start") or self.errors.get("end")):
            self.add_error("end" if start else "start", "Give both days of the range, or neither (a quarter).")
        elif start and end:
            if end < start:
                self.add_error("end", "The range ends before it starts.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", f"A range is at most {MAX_DAYS} days.")
        if data.get("shift_percent") and not data.get("shift_target") and "shift_target" not in self.errors:
            self.add_error("shift_target", "Choose the smaller model to move spend to.")
        return data

    def scenario(self) -> Scenario:
        """The scenario of a valid form."""
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            start, end = data["start"], data["end"] + timedelta(days=1)
        else:
            quarter = data.get("quarter") or Quarter.current()
            start, end = quarter.start, quarter.end
        kind, _, ref = (data.get("shift_scope") or "").partition(":")
        return Scenario(
            start=start,
            end=end,
            price_change=(data.get("price_percent") or Decimal(0)) / HUNDRED,
            price_provider=data.get("price_provider") or "",
            price_model=(data.get("price_model") or "").strip(),
            shift=(data.get("shift_percent") or Decimal(0)) / HUNDRED,
            shift_team_id=int(ref) if kind == "team" else None,
            shift_project_id=int(ref) if kind == "project" else None,
            shift_target=data.get("shift_target"),
            cache=data["cache_percent"] / HUNDRED if data.get("cache_percent") is not None else None,
        )

    def scope_name(self) -> str:
        kind, _, ref = (self.cleaned_data.get("shift_scope") or "").partition(":")
        if kind == "team" and int(ref) in self.teams:
            return f"team {self.teams[int(ref)].name}"
        if kind == "project" and int(ref) in self.projects:
            return f"project {self.projects[int(ref)].name}"
        return ""
