"""Keys: list (own, team or all, by role), detail with this quarter's usage, reveal once, rotate, revoke, suspend,
reinstate, all through allocator.keys (the services the key pages call)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from allocator import keys as key_services
from allocator.api.errors import errors
from allocator.api.fields import StrictSerializer, cost_out, money_out
from allocator.key_usage import key_recent_days
from allocator.models import InvalidTransition, Key, ProviderKind
from allocator.quarters import Quarter
from budgets.spend import KEY_SCOPE, spend_of_scope, with_quarter_spend

KEY_RELATED = ("account", "team", "owner_user", "owner_project", "requested_by")


class KeySerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name")
    provider = serializers.CharField(source="account.kind")
    owner = serializers.CharField(source="owner_label")
    owner_email = serializers.EmailField(source="owner_user.email", allow_null=True, default=None)
    project = serializers.CharField(source="owner_project.slug", allow_null=True, default=None)
    team = serializers.CharField(source="team.slug")
    secret_available = serializers.BooleanField()
    limit_usd = money_out(allow_null=True, help_text="The key's quarterly allowance; null: only budgets limit it.")
    spend_usd = cost_out(help_text="Spend this quarter.", default=None)

    class Meta:
        model = Key
        fields = [
            "id",
            "name",
            "account",
            "provider",
            "owner",
            "owner_email",
            "project",
            "team",
            "hint",
            "status",
            "status_reason",
            "limit_usd",
            "spend_usd",
            "created_at",
            "expires_at",
            "secret_available",
        ]


class DaySpendSerializer(serializers.Serializer):
    day = serializers.DateField()
    cost_usd = cost_out()


class KeyDetailSerializer(KeySerializer):
    quarter = serializers.CharField()
    recent_days = DaySpendSerializer(many=True, help_text="Spend per day, the last 14 days of the quarter.")

    class Meta(KeySerializer.Meta):
        fields = [*KeySerializer.Meta.fields, "quarter", "recent_days"]


class KeyFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Key.Status.choices)
    account = django_filters.CharFilter(field_name="account__name")
    provider = django_filters.ChoiceFilter(field_name="account__kind", choices=ProviderKind.choices)
    team = django_filters.CharFilter(field_name="team__slug")
    project = django_filters.CharFilter(field_name="owner_project__slug")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only keys I own or requested.")

    class Meta:
        model = Key
        fields = ["status", "account", "provider", "team", "project", "mine"]

    def filter_mine(self, queryset, name, value):
        if not value:
            return queryset
        me = self.request.user
        return queryset.filter(Q(owner_user=me) | Q(requested_by=me))


def visible_keys(request: Request):
    return Access.for_request(request).visible(Key.objects.select_related(*KEY_RELATED), user="owner_user")


def key_for(request: Request, pk: int) -> Key:
    """A key this person may see; others' keys are a 404, as on the pages."""
    key = visible_keys(request).filter(pk=pk).first()
    if key is None:
        raise NotFound()
    return key


@extend_schema(responses={200: KeySerializer(many=True), **errors(400)})
class KeyList(generics.ListAPIView):
    """Keys this person may see: their own; their teams' project keys; a manager's team; everything for finance
    and admins. `spend_usd` is this quarter's spend."""

    serializer_class = KeySerializer
    filterset_class = KeyFilter
    ordering_fields = ["created_at", "name", "status", "spend_usd"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        return with_quarter_spend(visible_keys(self.request))


@extend_schema(responses={200: KeyDetailSerializer, **errors(404)})
class KeyDetail(APIView):
    def get(self, request: Request, pk: int) -> Response:
        key = key_for(request, pk)
        quarter = Quarter.current()
        key.spend_usd = spend_of_scope(scope=KEY_SCOPE, scope_id=key.pk, quarter=quarter)
        key.quarter = quarter.name
        key.recent_days = [{"day": day, "cost_usd": cost} for day, cost in key_recent_days(key, quarter)]
        return Response(KeyDetailSerializer(key).data)


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=Key._meta.get_field("status_reason").max_length
    )


SecretSerializer = inline_serializer(
    name="KeySecret", fields={"secret": serializers.CharField(help_text="Shown this once; then destroyed.")}
)


@extend_schema(request=None, responses={200: SecretSerializer, **errors(404, 409)})
class KeyReveal(APIView):
    """The key's secret, once (after minting, rotation or an OpenAI reinstatement); a second call is 409."""

    def post(self, request: Request, pk: int) -> Response:
        key = key_for(request, pk)
        if not key.secret_available:
            raise InvalidTransition("No secret to show: it was shown once already, or it expired.")
        return Response({"secret": key_services.key_reveal(key=key, by=request.user)})


@extend_schema(request=None, responses={200: KeySerializer, **errors(404, 409, 502)})
class KeyRotate(APIView):
    """Mint a replacement at the provider and revoke the old one; reveal the new secret once."""

    def post(self, request: Request, pk: int) -> Response:
        key = key_services.key_rotate(key=key_for(request, pk), by=request.user)
        return Response(KeySerializer(key).data)


def _reason_action(action, summary: str) -> type[APIView]:
    @extend_schema(request=ReasonSerializer, responses={200: KeySerializer, **errors(400, 404, 409, 502)},
                   summary=summary)
    class KeyAction(APIView):
        def post(self, request: Request, pk: int) -> Response:
            key = key_for(request, pk)
            body = ReasonSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            key = action(key=key, by=request.user, reason=body.validated_data.get("reason", ""))
            return Response(KeySerializer(key).data)

    KeyAction.__name__ = KeyAction.__qualname__ = f"Key{summary.split()[0]}"
    return KeyAction


KeyRevoke = _reason_action(key_services.key_revoke, "Revoke the key at the provider (owner, manager, admin).")
KeySuspend = _reason_action(key_services.key_suspend, "Suspend the key (the team's manager or an admin).")
KeyReinstate = _reason_action(key_services.key_reinstate, "Reinstate a suspended key (manager or admin).")

routes = [
    path("keys/", KeyList.as_view(), name="key_list"),
    path("keys/<id:pk>/", KeyDetail.as_view(), name="key_detail"),
    path("keys/<id:pk>/reveal/", KeyReveal.as_view(), name="key_reveal"),
    path("keys/<id:pk>/rotate/", KeyRotate.as_view(), name="key_rotate"),
    path("keys/<id:pk>/revoke/", KeyRevoke.as_view(), name="key_revoke"),
    path("keys/<id:pk>/suspend/", KeySuspend.as_view(), name="key_suspend"),
    path("keys/<id:pk>/reinstate/", KeyReinstate.as_view(), name="key_reinstate"),
]
