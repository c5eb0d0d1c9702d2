"""Concentration and what-ifs: the numbers the two pages show (budgets/whatif/), for managers (their teams),
finance and admins; engineers get 403. Read-only: nothing changes anywhere.

The what-if query is checked by the page's own form (budgets.whatif.forms.WhatIfForm, every value bounded);
teams and projects are named by slug, the shift target by provider kind and model.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from allocator.api.board_serializers import share_out
from allocator.api.errors import errors
from allocator.api.fields import QUARTER_PARAM, QuarterField, StrictSerializer, cost_out
from allocator.quarters import Quarter
from budgets.whatif.concentration import concentration
from budgets.whatif.forms import WhatIfForm
from budgets.whatif.report import CostRow, provider_name, visible_org, what_if
from budgets.whatif.repricing import Prices


def _access(request: Request) -> Access:
    access = Access.for_request(request)
    if not access.sees_chargeback:
        raise PermissionDenied("Concentration and what-ifs are for managers, finance and admins.")
    return access


# --- Concentration ----------------------------------------------------------------------------------------------


class ConcentrationQuery(StrictSerializer):
    quarter = QuarterField(allow_blank=True)


class ShareSerializer(serializers.Serializer):
    ref = serializers.CharField(help_text="Provider kind, or the account's id.")
    name = serializers.CharField()
    cost_usd = cost_out(source="cost")
    share = share_out(help_text="Share of all run spend, 0 to 1.")
    peak_share = share_out(help_text="Share of peak demand, 0 to 1 (null until measured).")
    projects = serializers.IntegerField(help_text="Run projects whose largest share is here.")


class ProjectDependenceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    team = serializers.CharField()
    cost_usd = cost_out(source="cost")
    top_account = ShareSerializer()
    top_provider = ShareSerializer()
    flagged = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it is flagged; empty when it is not.", allow_blank=True)


class ConcentrationSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    threshold = share_out(help_text="A project is flagged from this share on one provider or account.")
    total_usd = cost_out(source="total")
    providers = ShareSerializer(many=True)
    accounts = ShareSerializer(many=True)
    projects = ProjectDependenceSerializer(many=True)


@extend_schema(parameters=[QUARTER_PARAM], responses={200: ConcentrationSerializer, **errors(400)})
class ConcentrationView(APIView):
    """Run spend by provider and by provider account in a quarter, and each run project's largest account and
    provider, flagged (with the reason) from the policy share on a single one."""

    def get(self, request: Request) -> Response:
        access = _access(request)
        query = ConcentrationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        quarter = query.validated_data.get("quarter") or Quarter.current()
        report = concentration(quarter=quarter, team_ids=access.chargeback_team_ids())
        body = {**vars(report), "quarter": str(quarter), "projects": report.projects}
        return Response(ConcentrationSerializer(body).data)


# --- What-if ----------------------------------------------------------------------------------------------------


def _text(help_text: str, max_length: int = 32) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, max_length=max_length, help_text=help_text)


class WhatIfQuery(StrictSerializer):
    quarter = _text("Fiscal quarter like FY2027-Q1; the current one when no range is given.", 16)
    start = _text("First day of a date range (YYYY-MM-DD), with `end`; at most 366 days.", 10)
    end = _text("Last day of the range (included).", 10)
    shift_percent = _text("Share of large-model spend to move, 0 to 100.")
    shift_team = _text("Team slug whose large-model spend moves (default: every team one sees).", 50)
    shift_project = _text("Project slug whose large-model spend moves (instead of a team).", 50)
    shift_provider = _text("Provider kind of the smaller model (e.g. openai).", 16)
    shift_model = _text("The smaller model to move to; must be small-tier.", 128)
    cache_percent = _text("Cache-hit share of input tokens to price at, 0 to 100.")
    price_percent = _text("Price change in percent, -100 to 1000.")
    price_provider = _text("Provider kind the price change applies to (default every provider).", 16)
    price_model = _text("Model the price change applies to (default every model).", 128)


_FORM_TO_API = {"shift_scope": "shift_team", "shift_target": "shift_model"}


class CostRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="ref", allow_null=True, help_text="Team or project id; null: none.")
    name = serializers.CharField()
    team = serializers.CharField(allow_blank=True, help_text="Projects: the team's name.")
    old_cost_usd = cost_out(source="old")
    new_cost_usd = cost_out(source="new")
    difference_usd = cost_out(source="difference")


class OpportunitySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["team", "project"])
    id = serializers.IntegerField(source="ref")
    name = serializers.CharField()
    cost_usd = cost_out(source="cost")
    cache_share = share_out()
    large_model_cost_usd = cost_out(source="large_cost")
    shift_saving_usd = cost_out(source="shift_saving")
    cache_saving_usd = cost_out(source="cache_saving")
    saving_usd = cost_out(source="saving")


class SavingsSerializer(serializers.Serializer):
    shift = share_out(help_text="Assumed share of large-model spend moved, 0 to 1.")
    cache = share_out(help_text="Assumed cache-hit share, 0 to 1.")
    target_provider = serializers.CharField(allow_null=True)
    target_model = serializers.CharField(allow_null=True)
    opportunities = OpportunitySerializer(many=True)


class WhatIfSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Last day included.")
    assumptions = serializers.ListField(child=serializers.CharField())
    teams = CostRowSerializer(many=True)
    projects = CostRowSerializer(many=True)
    total = CostRowSerializer()
    savings = SavingsSerializer()


def _form_data(data: dict[str, str], teams: list, projects: list) -> dict[str, str]:
    """The API's names as the page form's values (slugs to ids; a team or project one may not see is a 404, as on
    the boards)."""
    form = {k: v for k, v in data.items() if k not in ("shift_team", "shift_project", "shift_provider", "shift_model")}
    for field, kind, rows in (("shift_team", "team", teams), ("shift_project", "project", projects)):
        if data.get(field):
            match = next((row for row in rows if row.slug == data[field]), None)
            if match is None:
                raise NotFound(f"No {kind} {data[field]!r} that you may see.")
            form["shift_scope"] = f"{kind}:{match.pk}"
    if data.get("shift_model"):
        form["shift_target"] = f"{data.get('shift_provider', '')}|{data['shift_model']}"
    return form


def _row(row: CostRow) -> dict[str, Any]:
    return {"ref": row.ref, "name": row.name, "team": row.team, "old": row.old, "new": row.new,
            "difference": row.difference}  # fmt: skip


@extend_schema(
    parameters=[WhatIfQuery],
    responses={200: WhatIfSerializer, **errors(400, 404)},
)
class WhatIfView(APIView):
    """A past period priced again under a change (a price change, a share of large-model spend moved to a smaller
    model, a higher cache-hit share): old and new cost per team and project, the assumptions in words, and the
    savings opportunities. Nothing changes at the providers."""

    def get(self, request: Request) -> Response:
        access = _access(request)
        query = WhatIfQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data.get("shift_team") and query.validated_data.get("shift_project"):
            raise ValidationError({"shift_project": ["Give shift_team or shift_project, not both."]})
        team_ids = access.chargeback_team_ids()
        teams, projects = visible_org(team_ids)
        prices = Prices()
        form = WhatIfForm(_form_data(query.validated_data, teams, projects), teams=teams, projects=projects,
                          prices=prices)  # fmt: skip
        if not form.is_valid():
            raise ValidationError({_FORM_TO_API.get(k, k): list(v) for k, v in form.errors.items()})
        scenario = form.scenario()
        names = {"shift_scope": form.scope_name(), "price_provider": provider_name(scenario.price_provider)}
        if scenario.shift_target:
            names["shift_provider"] = provider_name(scenario.shift_target[0])
        report = what_if(scenario=scenario, teams=teams, projects=projects, prices=prices, team_ids=team_ids,
                         names=names)  # fmt: skip
        savings = report.savings
        body = {
            "start": scenario.start,
            "end": scenario.last_day,
            "assumptions": report.assumptions,
            "teams": [_row(r) for r in report.teams],
            "projects": [_row(r) for r in report.projects],
            "total": _row(report.total),
            "savings": {
                "shift": savings.shift,
                "cache": savings.cache,
                "target_provider": savings.target[0] if savings.target else None,
                "target_model": savings.target[1] if savings.target else None,
                "opportunities": savings.opportunities,
            },  # fmt: skip
        }
        return Response(WhatIfSerializer(body).data)


routes = [
    path("concentration/", ConcentrationView.as_view(), name="concentration"),
    path("what-if/", WhatIfView.as_view(), name="what_if"),
]
