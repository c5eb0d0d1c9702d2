"""Navigation that fits the signed-in person's roles."""

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.permissions import Access

# Pages reached from the Leaderboards entry (their URLs are under /budgets/, which is the Budgets entry).
BOARD_PAGES = {
    f"budgets:{name}" for name in ("leaderboard", "efficiency", "adoption", "compare_team", "compare_cost_center")
}


def navigation(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = Access.for_request(request)
    items: list[tuple[str, str, str]] = [
        ("Home", reverse("home"), "home"),
        ("My keys", reverse("allocator:key_list"), "keys"),
        ("My usage", reverse("budgets:person", args=[request.user.pk]), "usage"),
        ("Request a key", reverse("allocator:request_create"), "request"),
    ]
    if access.is_manager or access.sees_everything:
        items.append(("Team keys", reverse("allocator:key_team_list"), "teamkeys"))
        items.append(("Approvals", reverse("allocator:approvals"), "approvals"))
    if access.is_manager or access.sees_everything:
        items.append(("Budgets", reverse("budgets:overview"), "budgets"))
    if access.sees_capacity:
        items.append(("Capacity", reverse("capacity:headroom"), "capacity"))
    items.append(("Leaderboards", reverse("budgets:leaderboard"), "boards"))
    if access.sees_chargeback:
        items.append(("Chargeback", reverse("budgets:chargeback"), "chargeback"))
        items.append(("Concentration", reverse("budgets:concentration"), "concentration"))
        items.append(("What-ifs", reverse("budgets:what_if"), "whatif"))
    items.append(("Organisation", reverse("accounts:organisation"), "org"))
    admin_items: list[tuple[str, str, str]] = []
    if access.sees_everything:
        admin_items.append(("Sync status", reverse("allocator:sync_status"), "sync"))
        admin_items.append(("Audit log", reverse("accounts:audit"), "audit"))
    if access.is_admin:
        admin_items.append(("Provider accounts", reverse("allocator:account_list"), "accounts"))
        admin_items.append(("All keys", reverse("allocator:key_admin_list"), "allkeys"))
        admin_items.append(("Policy", reverse("allocator:policy"), "policy"))
        admin_items.append(("Django admin", reverse("admin:index"), "djadmin"))
    unread = request.user.notifications.filter(read_at__isnull=True).count()
    best = _best_match(request.path, items + admin_items)  # one highlighted entry across both lists
    if getattr(request.resolver_match, "view_name", "") in BOARD_PAGES:  # the boards sit under /budgets/
        best = reverse("budgets:leaderboard")
    return {
        "nav_items": _mark_active(items, best),
        "nav_admin_items": _mark_active(admin_items, best),
        "access": access,
        "unread_notifications": unread,
    }


def _best_match(path: str, items: list[tuple[str, str, str]]) -> str:
    """The longest entry URL the path is under ("/keys/all/" beats "/keys/"); "/" only matches itself."""
    matches = (url for _, url, _ in items if path == url or (url != "/" and path.startswith(url)))
    return max(matches, key=len, default="")


def _mark_active(items: list[tuple[str, str, str]], best: str) -> list[dict[str, Any]]:
    return [{"label": label, "url": url, "key": key, "active": url == best} for label, url, key in items]
