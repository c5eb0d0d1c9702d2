"""`manage.py seed_demo_usage`: demo keys on the Simulated account, and their usage for this and last quarter.

Keys are requested and minted through the real services (key request → policy approval → mint task, run in
process), then backdated so the simulated provider has a history to report; usage is back-filled by the real
sync. Idempotent: people and projects that already have a demo key are skipped, and a second run only syncs
incrementally. `seed_demo` calls it last (skip with `seed_demo --no-usage`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db.models import Sum
from django.db.models.signals import pre_save
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Project, User
from allocator import approvals as approval_services
from allocator import key_requests
from allocator import keys as key_services
from allocator.celery import app as celery_app
from allocator.models import DailyRollup, Key, KeyRequest, Policy, ProviderAccount, ProviderKind, SimulatedKey
from allocator.providers.simulated.usage import default_profile
from allocator.quarters import Quarter
from allocator.usage.sync import usage_sync

DEMO_PREFIX = "demo-"
SKIP_EVERY = 7  # every seventh person has no key yet (so the "request a key" path has someone to show)
POWER_USERS = {"engineer@example.com": 90.0, "chen@example.com": 420.0, "omar@example.com": 260.0}
CACHING_TEAMS = {"search", "support-ai"}
PROJECT_SLUGS = [
    "search-ranking",
    "query-rewrite",
    "dev-copilot",
    "ci-review-bot",
    "eval-harness",
    "support-assistant",
    "ticket-triage",
    "onboarding-emails",
    "contract-review",
]

REQUEST_LEAD = timedelta(minutes=3)  # a demo key is requested, approved and minted within minutes
REVEAL_AFTER = timedelta(minutes=20)  # ... and its owner reveals the secret a little later
EVENT_STEP = timedelta(seconds=30)


def _created_at(history_start: datetime, number: int) -> datetime:
    """When demo key `number` was minted: most since last quarter began, a few newer, none in the last 3 days."""
    days = (number * 5) % 23 if number % 6 else 40 + number % 30
    return min(history_start + timedelta(days=days, hours=9), timezone.now() - timedelta(days=3))


@contextmanager
def _events_dated(start: datetime) -> Iterator[list[datetime]]:
    """Audit events first written inside the block get `start`, `start + 30 s`, ... as their time.

    The audit log is append-only, so the time is set before the row is inserted, never afterwards. The yielded
    one-item list is the clock: set `clock[0]` to jump it forward.
    """
    clock = [start]

    def stamp(sender: type[AuditEvent], instance: AuditEvent, **kwargs: object) -> None:
        if instance._state.adding:
            instance.created_at = clock[0]
            clock[0] += EVENT_STEP

    pre_save.connect(stamp, sender=AuditEvent, weak=False, dispatch_uid="seed-demo-dated-events")
    try:
        yield clock
    finally:
        pre_save.disconnect(sender=AuditEvent, dispatch_uid="seed-demo-dated-events")


class Command(BaseCommand):
    help = "Create demo keys on the Simulated account and back-fill their usage for this and last quarter."

    def handle(self, *args, **options):
        started = time.monotonic()
        account, _ = ProviderAccount.objects.get_or_create(
            name="Simulated", defaults={"kind": ProviderKind.SIMULATED, "status": ProviderAccount.Status.OK}
        )
        history_start = Quarter.current().previous().start_at
        created = self._keys(account, history_start)
        since = history_start if account.synced_until is None or account.synced_until < history_start else None
        run = usage_sync(account=account, since=since, trigger="seed")
        quarter = Quarter.current()
        spend = DailyRollup.objects.filter(account=account, day__gte=quarter.start, day__lt=quarter.end).aggregate(
            total=Sum("cost_usd")
        )["total"] or Decimal("0")
        rows = f"{run.rows} usage rows in {run.pages} pages" if run else "another sync was running"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo usage ready: {created} new demo key{'' if created == 1 else 's'}, {rows}, "
                f"${spend.quantize(Decimal('0.01')):,} spent in {quarter} ({time.monotonic() - started:.0f} s)."
            )
        )

    def _plans(self, account: ProviderAccount) -> list[tuple[User, Membership, Project | None]]:
        """Who still needs a demo key: most people (every seventh has none yet), and the demo projects' leads."""
        have = set(
            Key.objects.filter(account=account, name__startswith=DEMO_PREFIX).values_list(
                "owner_user_id", "owner_project_id"
            )
        )
        plans: list[tuple[User, Membership, Project | None]] = []
        memberships = Membership.objects.select_related("user", "team").order_by("user__email", "team__name")
        seen_people: set[int] = set()
        for index, membership in enumerate(memberships):
            person = membership.user
            if person.pk in seen_people or index % SKIP_EVERY == SKIP_EVERY - 1 and person.email not in POWER_USERS:
                continue
            seen_people.add(person.pk)
            if (person.pk, None) not in have:
                plans.append((person, membership, None))
        for project in Project.objects.filter(slug__in=PROJECT_SLUGS).select_related("team"):
            lead = (
                Membership.objects.filter(team=project.team)
                .order_by("-role", "user__email")  # the manager asks for the team's project keys
                .select_related("user", "team")
                .first()
            )
            if lead is not None and (None, project.pk) not in have:
                plans.append((lead.user, lead, project))
        return plans

    def _keys(self, account: ProviderAccount, history_start: datetime) -> int:
        """Request and mint the missing demo keys; return how many were made."""
        policy = Policy.current()
        allowance = min(Decimal("50"), policy.auto_approve_limit_usd) or Decimal("50")
        admin = User.objects.filter(role=User.Role.ADMIN, is_active=True).first()
        plans = self._plans(account)
        previous = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
        made = 0
        try:
            for number, (person, membership, project) in enumerate(plans):
                owner = project.slug if project else person.email.split("@")[0]
                created = _created_at(history_start, number)
                # Request, approval and mint are written through the real services; their audit events carry
                # the backdated times from the start, so the key's timeline agrees with its "Created" date.
                with _events_dated(created - REQUEST_LEAD) as clock:
                    request = key_requests.key_request_create(
                        requester=person,
                        account=account,
                        team=membership.team,
                        project=project,
                        name=f"{DEMO_PREFIX}{owner}",
                        purpose="Demo key (seed_demo)",
                        allowance_usd=allowance if project is None else allowance * 4,
                    )
                    if request.state == KeyRequest.State.PENDING and admin is not None:
                        approval_services.approval_approve(approval_request=request, by=admin)
                    # The mint task ran in process when the request committed; inside an outer transaction
                    # (tests) it is still waiting, so mint directly: key_mint is idempotent.
                    key = Key.objects.filter(request=request).first() or key_services.key_mint(
                        key_request_id=request.pk
                    )
                    if key is None:
                        continue
                    clock[0] = created + REVEAL_AFTER
                    key_services.key_reveal(key=key, by=person)
                self._backdate(key, request, created, person, project)
                made += 1
        finally:
            celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous
        return made

    def _backdate(
        self, key: Key, request: KeyRequest, created: datetime, person: User, project: Project | None
    ) -> None:
        """Pretend the key has existed for a while (most since last quarter began), its secret long revealed."""
        KeyRequest.objects.filter(pk=request.pk).update(created_at=created - REQUEST_LEAD)
        Key.objects.filter(pk=key.pk).update(created_at=created, secret_revealed_at=created + REVEAL_AFTER)
        profile = default_profile(key.provider_data.get("name") or key.name)
        if project is not None:
            profile["rate"] = round(profile["rate"] * 3, 1)
            if project.kind == Project.Kind.RUN:
                profile["pattern"] = "service"
        elif person.email in POWER_USERS:
            profile["rate"] = POWER_USERS[person.email]
        team_slug = project.team.slug if project else key.team.slug
        if team_slug in CACHING_TEAMS:  # these teams cache more, each key by its own habit (0.45 to 0.85)
            profile["cache"] = min(0.85, round(profile["cache"] + 0.45, 2))
        SimulatedKey.objects.filter(account_id=key.account_id, key_id=key.provider_key_id).update(
            created_at=created.astimezone(UTC), profile=profile
        )
