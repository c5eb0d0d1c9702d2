"""Writes about people that other apps share."""

from collections.abc import Iterable

from accounts.models import Membership, Notification, Team, User


def notify(*, users: Iterable[User], text: str, url: str = "") -> int:
    """Put an in-app notification in front of each person (deduplicated)."""
    rows = {u.pk: Notification(user=u, text=text[:500], url=url) for u in users if u is not None}
    Notification.objects.bulk_create(rows.values())
    return len(rows)


def team_managers(team: Team) -> list[User]:
    return [m.user for m in Membership.objects.filter(team=team, role=Membership.Role.MANAGER).select_related("user")]


def finance_people() -> list[User]:
    return list(User.objects.filter(role=User.Role.FINANCE, is_active=True))
