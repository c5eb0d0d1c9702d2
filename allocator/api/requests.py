"""Key requests and budget requests (bumps): file, list, read, approve, reject, cancel, through
allocator.approvals: the one approval service the pages and the Slack buttons use too."""

from __future__ import annotations

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project, Team
from accounts.permissions import Access
from allocator import approvals, key_requests
from allocator.api.errors import errors
from allocator.api.fields import StrictSerializer, money, money_out
from allocator.models import PURPOSE_MAX_LENGTH, ApprovalRequest, Key, KeyRequest, ProviderAccount
from budgets import bumps
from budgets.models import Budget, BudgetRequest

# --- Serializers ---------------------------------------------------------------------------------------------


class _DecisionFields(serializers.ModelSerializer):
    requester = serializers.EmailField(source="requester.email")
    decided_by = serializers.EmailField(source="decided_by.email", allow_null=True, default=None)


class KeyRequestSerializer(_DecisionFields):
    account = serializers.CharField(source="account.name")
    team = serializers.CharField(source="team.slug")
    project = serializers.CharField(source="project.slug", allow_null=True, default=None)
    allowance_usd = money_out()
    key = serializers.IntegerField(source="key.pk", allow_null=True, default=None, help_text="Once minted.")

    class Meta:
        model = KeyRequest
        fields = [
            "id",
            "name",
            "purpose",
            "account",
            "team",
            "project",
            "requester",
            "allowance_usd",
            "expires_on",
            "state",
            "awaiting_step",
            "needs_finance",
            "auto_approved",
            "decided_by",
            "decided_at",
            "decision_reason",
            "failure_message",
            "key",
            "created_at",
        ]


class KeyRequestCreateSerializer(StrictSerializer):
    account = serializers.SlugRelatedField(
        slug_field="name", queryset=ProviderAccount.objects.filter(enabled=True), help_text="Provider account name."
    )
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug.")
    project = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Project.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Project slug, for a project key; leave out for a personal key.",
    )
    name = serializers.SlugField(max_length=40)
    purpose = serializers.CharField(max_length=PURPOSE_MAX_LENGTH)
    allowance_usd = money(min_value="1")
    expires_on = serializers.DateField(required=False, allow_null=True)


class BudgetRequestSerializer(_DecisionFields):
    budget = serializers.IntegerField(source="budget_id", allow_null=True)
    key = serializers.IntegerField(source="key_id", allow_null=True)
    team = serializers.CharField(source="team.slug", allow_null=True, default=None)
    target = serializers.CharField(source="target_label")
    amount_usd = money_out()

    class Meta:
        model = BudgetRequest
        fields = [
            "id",
            "budget",
            "key",
            "target",
            "team",
            "requester",
            "amount_usd",
            "reason",
            "state",
            "awaiting_step",
            "needs_finance",
            "auto_approved",
            "decided_by",
            "decided_at",
            "decision_reason",
            "created_at",
        ]


class BudgetRequestCreateSerializer(StrictSerializer):
    budget = serializers.PrimaryKeyRelatedField(
        queryset=Budget.objects.all(), required=False, allow_null=True, help_text="A budget id; or give `key`."
    )
    key = serializers.PrimaryKeyRelatedField(
        queryset=Key.objects.all(), required=False, allow_null=True, help_text="A key id, to raise its allowance."
    )
    amount_usd = money()
    reason = serializers.CharField(max_length=PURPOSE_MAX_LENGTH)

    def _visible(self, obj):
        if obj is not None and not Access.for_request(self.context["request"]).can_view(obj):
            raise serializers.ValidationError(f'Invalid pk "{obj.pk}" - object does not exist.')
        return obj

    validate_budget = _visible
    validate_key = _visible


class RejectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=1000)


# --- Views ---------------------------------------------------------------------------------------------------

KEY_REQUEST_RELATED = ("account", "team", "project", "requester", "decided_by", "key")
BUMP_RELATED = ("budget__team", "budget__project", "budget__user", "budget__cost_center", "key", "team", "requester",
                "decided_by")


class _RequestFilter(django_filters.FilterSet):
    awaiting_step = django_filters.ChoiceFilter(choices=ApprovalRequest.Step.choices)
    team = django_filters.CharFilter(field_name="team__slug")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only my own requests.")
    decidable = django_filters.BooleanFilter(method="filter_decidable", label="Only requests I may decide now.")

    def filter_mine(self, queryset, name, value):
        return queryset.filter(requester=self.request.user) if value else queryset

    def filter_decidable(self, queryset, name, value):
        return Access.for_request(self.request).approvable(queryset) if value else queryset


class KeyRequestFilter(_RequestFilter):
    state = django_filters.ChoiceFilter(choices=KeyRequest.State.choices)

    class Meta:
        model = KeyRequest
        fields = ["state", "awaiting_step", "team", "mine", "decidable"]


class BudgetRequestFilter(_RequestFilter):
    state = django_filters.ChoiceFilter(choices=BudgetRequest.State.choices)

    class Meta:
        model = BudgetRequest
        fields = ["state", "awaiting_step", "team", "mine", "decidable"]


def _visible(request: Request, model: type[ApprovalRequest]):
    related = KEY_REQUEST_RELATED if model is KeyRequest else BUMP_RELATED
    return Access.for_request(request).visible(model.objects.select_related(*related), user="requester")


def _one(request: Request, model: type[ApprovalRequest], pk: int) -> ApprovalRequest:
    obj = _visible(request, model).filter(pk=pk).first()
    if obj is None:
        raise NotFound()
    return obj


class KeyRequestList(generics.ListCreateAPIView):
    """Key requests this person may see. POST files one, routed by policy exactly as the request page does."""

    serializer_class = KeyRequestSerializer
    filterset_class = KeyRequestFilter
    ordering_fields = ["created_at", "allowance_usd", "state"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        return _visible(self.request, KeyRequest)

    @extend_schema(responses={200: KeyRequestSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=KeyRequestCreateSerializer, responses={201: KeyRequestSerializer, **errors(400)})
    def post(self, request: Request, *args, **kwargs) -> Response:
        body = KeyRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        created = key_requests.key_request_create(requester=request.user, project=data.pop("project", None), **data)
        return Response(KeyRequestSerializer(created).data, status=status.HTTP_201_CREATED)


class BudgetRequestList(generics.ListCreateAPIView):
    """Bumps this person may see. POST asks for more on one budget or on one key's allowance."""

    serializer_class = BudgetRequestSerializer
    filterset_class = BudgetRequestFilter
    ordering_fields = ["created_at", "amount_usd", "state"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        return _visible(self.request, BudgetRequest)

    @extend_schema(responses={200: BudgetRequestSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=BudgetRequestCreateSerializer, responses={201: BudgetRequestSerializer, **errors(400)})
    def post(self, request: Request, *args, **kwargs) -> Response:
        body = BudgetRequestCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        bump = bumps.budget_request_create(
            requester=request.user,
            amount_usd=data["amount_usd"],
            reason=data["reason"],
            budget=data.get("budget"),
            key=data.get("key"),
        )
        return Response(BudgetRequestSerializer(_one(request, BudgetRequest, bump.pk)).data, status=201)


def _views(model: type[ApprovalRequest], serializer: type[serializers.Serializer], noun: str):
    """Detail, approve, reject and cancel for one kind of request (the same four for both kinds)."""

    def out(request: Request, obj: ApprovalRequest) -> Response:
        return Response(serializer(_one(request, model, obj.pk)).data)

    @extend_schema(responses={200: serializer, **errors(404)})
    class Detail(APIView):
        def get(self, request: Request, pk: int) -> Response:
            return Response(serializer(_one(request, model, pk)).data)

    @extend_schema(request=None, responses={200: serializer, **errors(404, 409)},
                   summary=f"Approve the step the {noun} waits for (never your own request).")
    class Approve(APIView):
        def post(self, request: Request, pk: int) -> Response:
            obj = approvals.approval_approve(approval_request=_one(request, model, pk), by=request.user)
            return out(request, obj)

    @extend_schema(request=RejectSerializer, responses={200: serializer, **errors(400, 404, 409)},
                   summary=f"Reject the {noun} with a reason (the requester is told).")
    class Reject(APIView):
        def post(self, request: Request, pk: int) -> Response:
            obj = _one(request, model, pk)
            body = RejectSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            obj = approvals.approval_reject(approval_request=obj, by=request.user, reason=body.validated_data["reason"])
            return out(request, obj)

    @extend_schema(request=None, responses={200: serializer, **errors(404, 409)},
                   summary=f"Withdraw an open {noun} (the requester, their manager or an admin).")
    class Cancel(APIView):
        def post(self, request: Request, pk: int) -> Response:
            obj = approvals.approval_cancel(approval_request=_one(request, model, pk), by=request.user)
            return out(request, obj)

    prefix = model.__name__
    for view in (Detail, Approve, Reject, Cancel):
        view.__name__ = view.__qualname__ = prefix + view.__name__
    return Detail, Approve, Reject, Cancel


KeyRequestDetail, KeyRequestApprove, KeyRequestReject, KeyRequestCancel = _views(
    KeyRequest, KeyRequestSerializer, "key request"
)
BudgetRequestDetail, BudgetRequestApprove, BudgetRequestReject, BudgetRequestCancel = _views(
    BudgetRequest, BudgetRequestSerializer, "budget request"
)

routes = [
    path("key-requests/", KeyRequestList.as_view(), name="key_request_list"),
    path("key-requests/<id:pk>/", KeyRequestDetail.as_view(), name="key_request_detail"),
    path("key-requests/<id:pk>/approve/", KeyRequestApprove.as_view(), name="key_request_approve"),
    path("key-requests/<id:pk>/reject/", KeyRequestReject.as_view(), name="key_request_reject"),
    path("key-requests/<id:pk>/cancel/", KeyRequestCancel.as_view(), name="key_request_cancel"),
    path("budget-requests/", BudgetRequestList.as_view(), name="budget_request_list"),
    path("budget-requests/<id:pk>/", BudgetRequestDetail.as_view(), name="budget_request_detail"),
    path("budget-requests/<id:pk>/approve/", BudgetRequestApprove.as_view(), name="budget_request_approve"),
    path("budget-requests/<id:pk>/reject/", BudgetRequestReject.as_view(), name="budget_request_reject"),
    path("budget-requests/<id:pk>/cancel/", BudgetRequestCancel.as_view(), name="budget_request_cancel"),
]
