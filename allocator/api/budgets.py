"""Budgets: list with this quarter's spend, set one (finance: cost centers and teams; the team's manager: its
projects and people), split a team budget, through budgets.allocation (the services the budget pages call)."""

from __future__ import annotations

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import CostCenter, Project, Team, User
from accounts.permissions import Access
from allocator.api.errors import errors
from allocator.api.fields import QUARTER_PARAM, QuarterField, StrictSerializer, cost_out, money, money_out
from allocator.quarters import Quarter
from budgets import allocation
from budgets.models import Budget, Scope
from budgets.spend import scope_spend

BUDGET_RELATED = ("cost_center", "team", "project", "user")


class BudgetSerializer(serializers.ModelSerializer):
    cost_center = serializers.CharField(source="cost_center.code", allow_null=True, default=None)
    team = serializers.CharField(source="team.slug", allow_null=True, default=None)
    project = serializers.CharField(source="project.slug", allow_null=True, default=None)
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)
    label = serializers.CharField(source="scope_title")
    amount_usd = money_out()
    spend_usd = cost_out(help_text="Spend in the budget's quarter.")

    class Meta:
        model = Budget
        fields = ["id", "scope", "label", "cost_center", "team", "project", "user", "quarter", "amount_usd",
                  "hard", "spend_usd", "updated_at"]


class _Scopes(StrictSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all(), required=False)
    user = serializers.SlugRelatedField(
        slug_field="email", queryset=User.objects.filter(is_active=True), required=False, help_text="A person's email."
    )
    amount_usd = money(min_value="0")
    hard = serializers.BooleanField(default=True, help_text="Hard: keys are suspended at 100 %. Soft: alerts only.")
    quarter = QuarterField()


class BudgetSetSerializer(_Scopes):
    """Exactly one scope: `cost_center`, `team`, `project`, or `user` with the `team` it is a slice of."""

    cost_center = serializers.SlugRelatedField(slug_field="code", queryset=CostCenter.objects.all(), required=False)

    def validate(self, data: dict) -> dict:
        given = [name for name in ("cost_center", "team", "project", "user") if data.get(name) is not None]
        if given not in (["cost_center"], ["team"], ["project"], ["user"], ["team", "user"]):
            raise serializers.ValidationError(
                "Give exactly one of cost_center, team, project or user (a person's budget with its team)."
            )
        return data


class BudgetSplitSerializer(_Scopes):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())


class BudgetFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(choices=Scope.choices)
    team = django_filters.CharFilter(field_name="team__slug")
    cost_center = django_filters.CharFilter(field_name="cost_center__code")

    class Meta:
        model = Budget
        fields = ["scope", "team", "cost_center"]


def _with_spend(budgets: list[Budget], quarter: Quarter) -> list[Budget]:
    spend = scope_spend(quarter=quarter)
    for budget in budgets:
        budget.spend_usd = spend[budget.scope_key]
    return budgets


class BudgetList(generics.ListAPIView):
    """Budgets of one quarter this person may see, with spend. POST sets one (201 new, 200 changed)."""

    serializer_class = BudgetSerializer
    filterset_class = BudgetFilter
    ordering_fields = ["amount_usd", "scope", "updated_at"]
    ordering = ["scope", "pk"]

    def get_queryset(self):
        self.quarter = Quarter.from_param(self.request.query_params.get("quarter"))
        budgets = Budget.objects.filter(quarter=self.quarter.name).select_related(*BUDGET_RELATED)
        return Access.for_request(self.request).visible(budgets, user="user")

    def get_serializer(self, *args, **kwargs):
        if args and isinstance(args[0], list):
            args = (_with_spend(args[0], self.quarter), *args[1:])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(parameters=[QUARTER_PARAM], responses={200: BudgetSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=BudgetSetSerializer, responses={200: BudgetSerializer, 201: BudgetSerializer, **errors(400)}
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        body = BudgetSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        quarter = data.pop("quarter", None) or Quarter.current()
        existed = _exists(data, quarter)
        budget = allocation.budget_set(by=request.user, quarter=quarter, **data)
        return _answer(budget, quarter, created=not existed)


@extend_schema(request=BudgetSplitSerializer, responses={200: BudgetSerializer, 201: BudgetSerializer, **errors(400)})
class BudgetSplit(APIView):
    """A manager gives one of the team's projects or people (`project` or `user`) a slice of the team budget."""

    def post(self, request: Request) -> Response:
        body = BudgetSplitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        quarter = data.pop("quarter", None) or Quarter.current()
        existed = _exists(data, quarter)
        budget = allocation.budget_split(by=request.user, quarter=quarter, **data)
        return _answer(budget, quarter, created=not existed)


def _exists(data: dict, quarter: Quarter) -> bool:
    for scope in (Scope.COST_CENTER, Scope.PROJECT, Scope.USER, Scope.TEAM):
        if data.get(scope) is not None:
            return Budget.objects.filter(scope=scope, quarter=quarter.name, **{scope: data[scope]}).exists()
    return False


def _answer(budget: Budget, quarter: Quarter, *, created: bool) -> Response:
    budget = Budget.objects.select_related(*BUDGET_RELATED).get(pk=budget.pk)
    data = BudgetSerializer(_with_spend([budget], quarter)[0]).data
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


routes = [
    path("budgets/", BudgetList.as_view(), name="budget_list"),
    path("budgets/split/", BudgetSplit.as_view(), name="budget_split"),
]
