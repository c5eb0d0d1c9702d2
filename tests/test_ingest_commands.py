"""Commands: sync_usage (foreground sync), bench ingest (JSON last line), seed_demo_usage (demo keys + history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from allocator.models import DailyRollup, Key, KeyRequest, ProviderAccount, SimulatedKey, SyncRun, UsageBucket
from allocator.quarters import Quarter
from tests.budget_factories import MID_QUARTER
from tests.factories import KeyFactory

pytestmark = pytest.mark.django_db


def test_sync_usage_runs_in_the_foreground(simulated, engineer, team):
    KeyFactory(account=simulated, owner_user=engineer, team=team, provider_key_id="simkey_cmd")
    SimulatedKey.objects.create(account_id=simulated.pk, key_id="simkey_cmd", name="cmd", hint="x",
                                created_at=datetime.now(UTC) - timedelta(days=10))  # fmt: skip
    out, err = StringIO(), StringIO()
    since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    call_command("sync_usage", "--account", "Simulated", "--since", since, stdout=out, stderr=err)
    run = SyncRun.objects.get()
    assert run.trigger == "command" and run.status == "succeeded" and run.window_start.date().isoformat() == since
    assert f"Simulated: {run.rows} rows in {run.pages} pages" in out.getvalue()
    assert "rows" in err.getvalue()  # the progress bar

    with pytest.raises(CommandError, match="No provider account named 'Nope'"):
        call_command("sync_usage", "--account", "Nope", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="Not an ISO-8601"):
        call_command("sync_usage", "--since", "last tuesday", stdout=out, stderr=err)


def test_bench_ingest_prints_one_json_object_last():
    out = StringIO()
    call_command("bench", "ingest", "--buckets", "3000", "--json", stdout=out, stderr=StringIO())
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    required = {"bench", "database", "rows", "first_rows_per_s", "reingest_rows_per_s", "copy_rows_per_s",
                "ratio_vs_copy", "reingest_time_ratio", "rollups_match"}  # fmt: skip
    assert required <= result.keys()
    assert result["bench"] == "ingest" and result["rows"] == result["stored_rows"] == 3000
    assert result["rollups_match"] is True and result["unknown_models"] == ["bench-unknown-model"]
    assert result["database"] == connection.vendor
    if connection.vendor == "postgresql":
        assert result["copy_rows_per_s"] > 0 and result["ratio_vs_copy"] > 0
    else:
        assert result["copy_rows_per_s"] is None and "PostgreSQL" in result["note"]
    assert not ProviderAccount.objects.filter(name="bench-ingest").exists()  # cleaned up
    assert UsageBucket.objects.count() == 0


# Mid-quarter, so the current quarter already has demo usage however long the backfill takes (started in a quarter's
# last minute, it used to finish in the next one, which has none yet).
@time_machine.travel(MID_QUARTER, tick=True)
def test_seed_demo_usage_mints_demo_keys_and_backfills_two_quarters_once():
    call_command("seed_demo", "--no-usage", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo_usage", stdout=out, stderr=StringIO())
    assert "Demo usage ready" in out.getvalue()

    account = ProviderAccount.objects.get(name="Simulated")
    demo = Key.objects.filter(account=account, name__startswith="demo-")
    assert demo.count() >= 35 and demo.filter(owner_project__isnull=False).count() >= 8
    assert not KeyRequest.objects.exclude(state=KeyRequest.State.MINTED).exists()  # through the real services
    assert SimulatedKey.objects.filter(account_id=account.pk).count() == demo.count()
    quarter = Quarter.current()
    assert DailyRollup.objects.filter(day__lt=quarter.start, day__gte=quarter.previous().start).exists()
    assert DailyRollup.objects.filter(day__gte=quarter.start).exists()
    assert not demo.filter(pending_secret__gt="").exists()  # backdated keys were revealed long ago

    keys, runs = demo.count(), SyncRun.objects.count()
    call_command("seed_demo_usage", stdout=StringIO(), stderr=StringIO())
    assert demo.count() == keys and SyncRun.objects.count() == runs + 1  # no new keys, an incremental sync
    assert SyncRun.objects.latest("started_at").window_start >= datetime.now(UTC) - timedelta(days=3)
