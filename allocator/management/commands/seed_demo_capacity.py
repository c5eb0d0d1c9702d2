"""`manage.py seed_demo_capacity`: the Simulated account's rate limits and four weeks of its minute demand peaks,
then the capacity alerts they call for (`seed_demo` runs it after the usage and budgets).

The demand's growth is anchored on the day this first ran (the account option `growth_anchor`), so re-pulls agree
and the growing model stays near its limit on the demo's first day. Changes nothing that exists but the peaks of
the days it pulls (which it replaces with the same numbers)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from allocator.capacity.alerts import capacity_alerts_raise
from allocator.capacity.limits import limits_refresh
from allocator.capacity.models import DemandPeak
from allocator.capacity.peaks import demand_sync
from allocator.models import ProviderAccount, ProviderKind

HISTORY_DAYS = 29  # four complete weeks: enough for the projection's trend


class Command(BaseCommand):
    help = "Read the Simulated account's rate limits and back-fill four weeks of its minute demand peaks."

    def handle(self, *args, **options):
        started = time.monotonic()
        account = ProviderAccount.objects.filter(kind=ProviderKind.SIMULATED, name="Simulated").first()
        if account is None:
            self.stdout.write("No Simulated account: nothing to seed for capacity.")
            return
        if not (account.options or {}).get("growth_anchor"):
            account.options = {**(account.options or {}), "growth_anchor": timezone.now().date().isoformat()}
            account.save(update_fields=["options"])
        limits = limits_refresh(account=account)
        # The four weeks once; a second run pulls only the recent window (its peaks are the same numbers).
        backfilled = DemandPeak.objects.filter(account=account, day__lte=timezone.now().date() - timedelta(days=7))
        since = None if backfilled.exists() else timezone.now() - timedelta(days=HISTORY_DAYS)
        peaks = demand_sync(account=account, since=since)
        alerts = capacity_alerts_raise()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo capacity ready: {limits} limits, {peaks} daily peaks, {alerts} capacity alert"
                f"{'' if alerts == 1 else 's'} ({time.monotonic() - started:.0f} s)."
            )
        )
