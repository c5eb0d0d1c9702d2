"""The organisation, read-only, for everyone signed in (as the Organisation page): cost centers, teams, projects,
people."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.api.errors import errors


class CostCenterSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", allow_null=True, default=None)

    class Meta:
        model = CostCenter
        fields = ["id", "code", "name", "owner"]


class TeamSerializer(serializers.ModelSerializer):
    cost_center = serializers.CharField(source="cost_center.code")

    class Meta:
        model = Team
        fields = ["id", "slug", "name", "cost_center"]


class ProjectSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "kind", "team", "is_active"]


class MembershipSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")

    class Meta:
        model = Membership
        fields = ["team", "role"]


class PersonSerializer(serializers.ModelSerializer):
    teams = MembershipSerializer(source="memberships", many=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "teams"]


class TeamFilter(django_filters.FilterSet):
    cost_center = django_filters.CharFilter(field_name="cost_center__code")

    class Meta:
        model = Team
        fields = ["cost_center"]


class ProjectFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = Project
        fields = ["team", "is_active", "kind"]


class PersonFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="memberships__team__slug", distinct=True)

    class Meta:
        model = User
        fields = ["team", "role"]


def _read_only(name: str, serializer_class, queryset, filterset=None, ordering=("pk",)):
    @extend_schema(responses={200: serializer_class(many=True), **errors(400)})
    class ReadList(generics.ListAPIView):
        def get_queryset(self):
            return queryset()

    ReadList.serializer_class = serializer_class
    ReadList.filterset_class = filterset
    ReadList.ordering = list(ordering)
    ReadList.ordering_fields = list(ordering)
    ReadList.__name__ = ReadList.__qualname__ = name
    ReadList.__doc__ = f"{name.removesuffix('List')} of the organisation, read-only."
    return ReadList


CostCenterList = _read_only("CostCenterList", CostCenterSerializer, lambda: CostCenter.objects.select_related("owner"),
                            ordering=("code",))
TeamList = _read_only("TeamList", TeamSerializer, lambda: Team.objects.select_related("cost_center"), TeamFilter,
                      ordering=("name",))
ProjectList = _read_only("ProjectList", ProjectSerializer, lambda: Project.objects.select_related("team"),
                         ProjectFilter, ordering=("name",))
PersonList = _read_only(
    "PersonList",
    PersonSerializer,
    lambda: User.objects.filter(is_active=True).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("team"))
    ),
    PersonFilter,
    ordering=("full_name", "email"),
)

routes = [
    path("cost-centers/", CostCenterList.as_view(), name="cost_center_list"),
    path("teams/", TeamList.as_view(), name="team_list"),
    path("projects/", ProjectList.as_view(), name="project_list"),
    path("people/", PersonList.as_view(), name="person_list"),
]
