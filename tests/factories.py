from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.models import Key, KeyRequest, ProviderAccount, ProviderKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    role = User.Role.ENGINEER
    password = factory.PostGenerationMethodCall("set_password", "pw")


class CostCenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostCenter

    code = factory.Sequence(lambda n: f"CC{n}")
    name = factory.Sequence(lambda n: f"Cost center {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    cost_center = factory.SubFactory(CostCenterFactory)
    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.ENGINEER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    kind = Project.Kind.BUILD


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    kind = ProviderKind.SIMULATED
    name = factory.Sequence(lambda n: f"Account {n}")


class KeyRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KeyRequest

    requester = factory.SubFactory(UserFactory)
    account = factory.SubFactory(ProviderAccountFactory)
    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"key-{n}")
    purpose = "testing"
    allowance_usd = Decimal("200.00")
    state = KeyRequest.State.PENDING
    awaiting_step = KeyRequest.Step.MANAGER


class KeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Key

    account = factory.SubFactory(ProviderAccountFactory)
    owner_user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"key-{n}")
    provider_key_id = factory.Sequence(lambda n: f"simkey_{n:06d}")
    hint = factory.Sequence(lambda n: f"sk-sim-…{n:04d}")
    limit_usd = Decimal("100.00")
    created_at = factory.LazyFunction(timezone.now)
