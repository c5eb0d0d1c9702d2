"""Threshold, forecast and suspension alerts: one alert per crossing, per scope, per quarter.

A "limit" is a Budget or a key's Allowance (budgets.allowance): each has a scope key, an amount, a title and
the people an alert concerns.
The guarantee "one alert per crossing" is Alert's unique constraint on (kind, scope_key, quarter, threshold,
dedupe), with `dedupe` the amount: rows are inserted with ON CONFLICT DO NOTHING, so two racing enforcement runs
cannot both announce the same crossing. Texts are built with allocator.money.usd, which never raises whatever
amount is stored.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Union

from django.utils.formats import date_format

from allocator.money import ZERO, usd
from allocator.quarters import Quarter
from budgets.forecast import DailySeries, Forecast, forecast
from budgets.models import Alert, Budget, BudgetPolicy, Scope
from budgets.spend import spend_of_scope

if TYPE_CHECKING:
    from budgets.allowance import Allowance

Limit = Union[Budget, "Allowance"]


def _day(value: date) -> str:
    return date_format(value, "j F")


def limit_alert(limit: Limit, kind: str, threshold: int, message: str, quarter: Quarter) -> Alert:
    """An alert row about one budget or allowance (not saved)."""
    return Alert(
        kind=kind,
        scope=limit.scope,
        scope_key=limit.scope_key,
        quarter=quarter.name,
        threshold=threshold,
        dedupe=str(limit.amount_usd),
        message=message,
        url=limit.get_absolute_url(),
        **limit.alert_targets(),
    )


def crossed_thresholds(*, spent: Decimal, amount: Decimal, thresholds: list[int]) -> list[int]:
    """The thresholds (percent) that `spent` has reached. Exact in Decimal: 100 % means spend == amount."""
    return [t for t in thresholds if spent * 100 >= amount * t]


def _at_limit_text(limit: Limit) -> str:
    if not limit.hard:
        return f" The {limit.noun} is soft: keys keep working."
    if isinstance(limit, Budget):
        return " The budget is hard: its keys are suspended until a bump is approved or the quarter ends."
    return " The key is suspended until its allowance is raised or the quarter ends."


def _threshold_alerts(
    limit: Limit, *, spent: Decimal, fc: Forecast, new: list[int], notes: list[str], quarter: Quarter
) -> list[Alert]:
    """One alert per newly crossed threshold; when several are crossed at once only the highest is sent."""
    alerts = []
    for t in new:
        text = (
            f"{limit.scope_title}: {usd(spent)} spent of the {usd(limit.amount_usd)} {quarter} {limit.noun} "
            f"({int(fc.percent or 0)}\u00a0%)."
        )
        if t >= 100:
            text += _at_limit_text(limit)
        elif fc.run_out is not None:
            text += f" On track to run out on {_day(fc.run_out)}."
        if t >= 100 and notes:
            text += " Keys: " + "; ".join(notes) + "."
        alert = limit_alert(limit, Alert.Kind.THRESHOLD, t, text, quarter)
        if t != max(new):
            alert.status = Alert.Status.SKIPPED
        alerts.append(alert)
    return alerts


def _in_days(run_out: date, today: date) -> str:
    days = (run_out - today).days
    return "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"


def forecast_alert_due(fc: Forecast, *, today: date, days: int) -> bool:
    """Not spent yet, a real forecast, and its trend line runs out within `days` of today."""
    if fc.amount is None or fc.spend >= fc.amount or fc.run_out is None or not fc.projecting:
        return False
    return (fc.run_out - today).days <= days


def _forecast_alert(
    limit: Limit, *, spent: Decimal, fc: Forecast, today: date, quarter: Quarter, policy: BudgetPolicy
) -> Alert | None:
    """A budget whose trend line runs out within policy.forecast_alert_days of today, whatever the day of the
    quarter. Once per crossing: the alert's identity is the budget's amount (a bump makes a new crossing).
    Needs a real forecast (a week of history): the level and trend are robust, so one runaway day never raises it."""
    if not isinstance(limit, Budget) or not forecast_alert_due(fc, today=today, days=policy.forecast_alert_days):
        return None
    band = f" (80\u00a0% range {usd(fc.low)}\u2013{usd(fc.high)})" if fc.low is not None else ""
    return limit_alert(
        limit,
        Alert.Kind.FORECAST,
        100,
        f"{limit.scope_title} is on track to run out on {_day(fc.run_out)}, {_in_days(fc.run_out, today)}: "
        f"{usd(spent)} of {usd(limit.amount_usd)} spent, {usd(fc.projected)} projected by the end of {quarter} if "
        f"the trend continues{band}.",
        quarter,
    )


def limit_alerts(
    *,
    limits: list[Limit],
    spend: dict[str, Decimal],
    series: DailySeries,
    today: date,
    elapsed: float,
    quarter: Quarter,
    policy: BudgetPolicy,
    outcome: dict[str, list[str]],
    existing: set[tuple],
    outlooks: dict[str, list[str]] | None = None,
) -> list[Alert]:
    """Alert rows for every crossing not recorded in `existing` yet. `outcome` holds, per deciding scope key,
    what happened to its keys (suspended, cannot be suspended, ...): it goes into the 100 % or suspension alert.
    `outlooks`, if given, receives each budget's (amount, spend, forecast status) for the pages."""
    alerts: list[Alert] = []
    for limit in limits:
        spent = spend.get(limit.scope_key, ZERO)
        fc = forecast(
            spend=spent,
            amount=limit.amount_usd,
            series=series.get(limit.scope_key, {}),
            today=today,
            quarter=quarter,
            elapsed=elapsed,
        )
        dedupe = str(limit.amount_usd)
        if outlooks is not None and isinstance(limit, Budget):
            outlooks[limit.scope_key] = [dedupe, str(spent), fc.status]
        crossed = crossed_thresholds(spent=spent, amount=limit.amount_usd, thresholds=policy.thresholds)
        new = [t for t in crossed if (Alert.Kind.THRESHOLD, limit.scope_key, quarter.name, t, dedupe) not in existing]
        notes = outcome.pop(limit.scope_key, [])
        alerts += _threshold_alerts(limit, spent=spent, fc=fc, new=new, notes=notes, quarter=quarter)
        if notes and 100 not in new:
            owner = "their" if limit.scope == Scope.USER else "its"  # a person is over *their* budget
            text = f"{limit.scope_title} is over {owner} {usd(limit.amount_usd)} {quarter} {limit.noun}. " + "; ".join(
                notes
            )
            alerts.append(limit_alert(limit, Alert.Kind.SUSPENSION, 100, text + ".", quarter))
        forecast_alert = _forecast_alert(limit, spent=spent, fc=fc, today=today, quarter=quarter, policy=policy)
        if forecast_alert is not None:
            alerts.append(forecast_alert)
    return [a for a in alerts if a.identity not in existing]


def record_crossed_thresholds(*, budget: Limit) -> int:
    """After a budget or allowance changes (a bump, a new amount), record the thresholds it is already past as
    superseded.

    Alerts are deduplicated per amount, so without this a bump from $625 to $925 at $650 spent would announce
    "50 % crossed" again; only crossings from here on should alert.
    """
    quarter = Quarter.parse(budget.quarter)
    spent = spend_of_scope(scope=budget.scope, scope_id=budget.scope_id, quarter=quarter)
    rows = []
    for t in crossed_thresholds(spent=spent, amount=budget.amount_usd, thresholds=BudgetPolicy.current().thresholds):
        text = (
            f"{budget.scope_title} was already past {t}\u00a0% when the {budget.noun} changed to "
            f"{usd(budget.amount_usd)}."
        )
        alert = limit_alert(budget, Alert.Kind.THRESHOLD, t, text, quarter)
        alert.status = Alert.Status.SKIPPED
        rows.append(alert)
    return insert_new_alerts(rows)


def insert_new_alerts(alerts: list[Alert]) -> int:
    """Insert alerts believed new. A row a racing run inserted first wins silently (unique constraint, ON
    CONFLICT DO NOTHING), so the count is what this run tried, not necessarily what it wrote."""
    if alerts:
        Alert.objects.bulk_create(alerts, ignore_conflicts=True)
    return len(alerts)
