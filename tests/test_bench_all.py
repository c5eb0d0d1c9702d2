"""`manage.py bench all --json` runs the four benches at a tiny size and prints one JSON object last."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from allocator.models import DailyRollup, ProviderAccount, UsageBucket

TINY = [
    "--ingest-buckets", "2000", "--ingest-keys", "200",
    "--pages-usage-rows", "300", "--pages-small-rows", "60", "--pages-requests", "1", "--pages-warmup", "2",
    "--pages-people", "20", "--pages-keys", "30",
    "--export-lines", "500",
    "--enforce-keys", "120",
]  # fmt: skip


@pytest.mark.django_db
def test_bench_all_prints_every_bench_with_its_target_and_verdict_last():
    out = StringIO()
    call_command("bench", "all", *TINY, "--json", stdout=out, stderr=StringIO())
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith('{"bench": "all", "ingest": {')
    result = json.loads(last)
    assert list(result) == ["bench", "all"][:1] + ["ingest", "pages", "export", "enforce"]
    for name in ("ingest", "pages", "export", "enforce"):
        figures = result[name]
        assert figures["bench"] == name and figures["database"] == connection.vendor, name
        assert isinstance(figures["met"], bool) and figures["target"], name
        assert len(figures["load_average"]) == 2, name
    ingest, pages, export, enforce = (result[n] for n in ("ingest", "pages", "export", "enforce"))
    assert ingest["rows"] == 2000 and ingest["rollups_match"] is True
    if connection.vendor != "postgresql":
        assert ingest["met"] is False and ingest["ratio_vs_copy"] is None  # no COPY to compare with
    assert pages["usage_rows"] == 300 and pages["pages"]
    assert pages["met"] == (not pages["not_met"])
    assert all(isinstance(page["met"], bool) for page in pages["pages"].values())
    assert export["lines"] == 500 and export["format"] == "csv"
    assert enforce["keys"] == 120 and enforce["met"] == (enforce["queries"] == enforce["queries_at_100_keys"])
    # Each bench cleaned up after itself.
    assert not ProviderAccount.objects.exists() and not UsageBucket.objects.exists()
    assert not DailyRollup.objects.exists()
