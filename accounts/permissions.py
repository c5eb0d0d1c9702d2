"""The one place that says who may see, approve or manage what. Web views and the API both use it.

Rules:
- admin: everything.
- finance: sees everything, decides the finance step of two-step approvals, sets budgets.
- manager of a team: sees and manages that team's people, projects, keys, requests and budgets,
  and decides the manager step of that team's requests.
- engineer: sees their own keys and requests and their teams' project keys.
- a person's page: themself, the managers of their teams, finance and admins.

Objects are judged by two attributes: `team_id` (the team the object is charged to) and an owning user
(`owner_user_id`, `requester_id` or `user_id`). A request also says which step it waits for in
`awaiting_step` ("manager", "finance" or "").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest
from rest_framework.permissions import BasePermission

from accounts.models import Membership, Team, User

_USER_ATTRS = ("owner_user_id", "requester_id", "user_id")


@dataclass(frozen=True)
class BoardScope:
    """What one person may see on the leaderboards, efficiency, adoption and comparison pages.

    `all_teams`: every team's board (finance, admins; managers when the policy lets them see other teams).
    `team_ids`: otherwise, the teams whose boards they see, names included. `own_team_ids`: the teams in which
    they see their own position (rank, cache share against the team median) without anyone else's name.
    """

    all_teams: bool
    team_ids: frozenset[int]
    own_team_ids: frozenset[int]

    @property
    def sees_boards(self) -> bool:
        return self.all_teams or bool(self.team_ids)

    def sees_team(self, team_id: int | None) -> bool:
        return team_id is not None and (self.all_teams or team_id in self.team_ids)


class Access:
    def __init__(self, user: Any) -> None:
        self.user = user
        self.team_ids: frozenset[int] = frozenset()
        self.managed_team_ids: frozenset[int] = frozenset()
        self._board_scope: BoardScope | None = None
        if getattr(user, "is_authenticated", False):
            rows = list(Membership.objects.filter(user=user).values_list("team_id", "role"))
            self.team_ids = frozenset(t for t, _ in rows)
            self.managed_team_ids = frozenset(t for t, r in rows if r == Membership.Role.MANAGER)

    @classmethod
    def for_request(cls, request: HttpRequest) -> Access:
        access = getattr(request, "_access", None)
        if access is None or access.user != request.user:
            access = cls(request.user)
            request._access = access  # type: ignore[attr-defined]
        return access

    # Roles -----------------------------------------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def is_admin(self) -> bool:
        return self.is_authenticated and self.user.is_admin

    @property
    def is_finance(self) -> bool:
        return self.is_authenticated and (self.user.is_finance or self.user.is_admin)

    @property
    def sees_everything(self) -> bool:
        return self.is_admin or self.is_finance

    @property
    def is_manager(self) -> bool:
        return bool(self.managed_team_ids)

    @property
    def sees_chargeback(self) -> bool:
        return self.sees_everything or self.is_manager

    @property
    def sees_capacity(self) -> bool:
        """Rate limits against demand (organization-wide, no one's spend): managers, finance, admins."""
        return self.sees_everything or self.is_manager

    def chargeback_team_ids(self) -> frozenset[int] | None:
        """Teams whose chargeback lines this person reads: None means every line, unattributed usage included
        (finance, admin); a manager reads their teams'; anyone else none."""
        if self.sees_everything:
            return None
        return self.managed_team_ids

    # Objects ---------------------------------------------------------------------------------------

    @staticmethod
    def _team_id(obj: Model) -> int | None:
        if isinstance(obj, Team):
            return obj.pk
        return getattr(obj, "team_id", None)

    @staticmethod
    def _user_id(obj: Model) -> int | None:
        if isinstance(obj, User):
            return obj.pk
        for attr in _USER_ATTRS:
            value = getattr(obj, attr, None)
            if value is not None:
                return value
        return None

    def can_view(self, obj: Model) -> bool:
        if not self.is_authenticated:
            return False
        if self.sees_everything:
            return True
        if self._user_id(obj) == self.user.pk:
            return True
        team_id = self._team_id(obj)
        if team_id in self.managed_team_ids:
            return True
        # Team members see their team and its projects' keys, but not colleagues' personal objects.
        return team_id in self.team_ids and self._user_id(obj) is None

    def can_manage(self, obj: Model) -> bool:
        """Change team-level things: budgets split, a team's keys, its people's requests."""
        if self.is_admin:
            return True
        return self._team_id(obj) in self.managed_team_ids

    def can_approve(self, request_obj: Model) -> bool:
        step = getattr(request_obj, "awaiting_step", "") or None
        # Nobody approves their own request, at any step: not a manager, not finance, not an admin.
        if self._user_id(request_obj) == self.user.pk:
            return False
        if step == "manager":
            return self.is_admin or self._team_id(request_obj) in self.managed_team_ids
        if step == "finance":
            return self.is_finance
        return False

    def can_act_as_owner(self, obj: Model) -> bool:
        """Owner actions (reveal a secret, rotate, revoke own key, cancel own request)."""
        if not self.is_authenticated:
            return False
        if self._user_id(obj) == self.user.pk:
            return True
        return self.can_manage(obj)

    @cached_property
    def managed_member_ids(self) -> frozenset[int]:
        """People in the teams this person manages (one query, once per request)."""
        if not self.managed_team_ids:
            return frozenset()
        members = Membership.objects.filter(team_id__in=self.managed_team_ids).values_list("user_id", flat=True)
        return frozenset(members)

    def can_view_person(self, person: Any) -> bool:
        """A person's page (their keys, budgets, spend and efficiency): themself, a manager of one of their teams,
        finance and admins."""
        return person is not None and self.can_view_person_id(person.pk)

    def can_view_person_id(self, pk: int) -> bool:
        """can_view_person by id (boards link names without loading every person)."""
        if not self.is_authenticated:
            return False
        return self.sees_everything or pk == self.user.pk or pk in self.managed_member_ids

    def leaderboard_scope(self) -> BoardScope:
        """Who sees whom on the boards, by role and the budget policy (budgets.models.BudgetPolicy):
        finance and admins everything; managers their teams (every team if `managers_see_other_teams`);
        engineers their own position only (their teams' boards with names if `engineers_see_names`)."""
        if self._board_scope is None:
            self._board_scope = self._read_board_scope()
        return self._board_scope

    def _read_board_scope(self) -> BoardScope:
        if not self.is_authenticated:
            return BoardScope(all_teams=False, team_ids=frozenset(), own_team_ids=frozenset())
        if self.sees_everything:
            return BoardScope(all_teams=True, team_ids=frozenset(), own_team_ids=self.team_ids)
        from budgets.models import BudgetPolicy  # budgets depends on accounts, not the other way round

        policy = BudgetPolicy.current()
        teams = set(self.managed_team_ids)
        if policy.engineers_see_names:
            teams |= self.team_ids
        all_teams = bool(self.managed_team_ids) and policy.managers_see_other_teams
        return BoardScope(all_teams=all_teams, team_ids=frozenset(teams), own_team_ids=self.team_ids)

    def can_view_team_board(self, team: Team) -> bool:
        """A team's leaderboard and quarter-over-quarter comparison, with names."""
        return self.leaderboard_scope().sees_team(team.pk)

    # Querysets -------------------------------------------------------------------------------------

    def visible(self, qs: QuerySet, *, team: str = "team", user: str | None = None) -> QuerySet:
        """Narrow `qs` to what this person may see, mirroring can_view()."""
        if not self.is_authenticated:
            return qs.none()
        if self.sees_everything:
            return qs
        q = Q(**{f"{team}__in": self.managed_team_ids})
        if user:
            q |= Q(**{user: self.user.pk})
            q |= Q(**{f"{team}__in": self.team_ids, f"{user}__isnull": True})
        else:
            q |= Q(**{f"{team}__in": self.team_ids})
        return qs.filter(q)

    def approvable(self, qs: QuerySet, *, team: str = "team", user: str = "requester") -> QuerySet:
        """Requests in `qs` this person may decide now (mirrors can_approve())."""
        if not self.is_authenticated:
            return qs.none()
        q = Q(pk__in=[])
        if self.is_admin:
            q |= Q(awaiting_step="manager")
        elif self.managed_team_ids:
            q |= Q(awaiting_step="manager", **{f"{team}__in": self.managed_team_ids})
        if self.is_finance:
            q |= Q(awaiting_step="finance")
        return qs.filter(q).exclude(**{user: self.user.pk})


def get_visible_or_404(request: HttpRequest, qs: QuerySet, **lookup: Any) -> Any:
    """Fetch one object the signed-in person may see; others' objects are a 404, never a 403."""
    try:
        obj = qs.get(**lookup)
    except (qs.model.DoesNotExist, ValueError) as e:
        raise Http404 from e
    if not Access.for_request(request).can_view(obj):
        raise Http404
    return obj


def require_admin(request: HttpRequest) -> Access:
    """The signed-in person's access if they are an admin; a 403 otherwise."""
    access = Access.for_request(request)
    if not access.is_admin:
        raise PermissionDenied
    return access


class CanView(BasePermission):
    """DRF object permission backed by Access.can_view (same rules as the web)."""

    def has_object_permission(self, request: Any, view: Any, obj: Model) -> bool:
        return Access.for_request(request).can_view(obj)


class IsFinanceOrAdmin(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return Access.for_request(request).is_finance
