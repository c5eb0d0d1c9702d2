"""`manage.py bench pages` runs end to end at a tiny size and prints its JSON line last."""

from __future__ import annotations

import io
import json

from django.core.management import call_command

from accounts.models import User
from allocator.coding.models import CodingIdentity, CodingSeat, CodingSummary, CodingUsage
from allocator.models import (
    DailyRollup,
    DailySummary,
    DemandPeak,
    ProviderAccount,
    RateLimitRecord,
    UsageBucket,
    UsageSummary,
)
from budgets.bench_pages import PAGES

REQUIRED = {
    "leaderboard", "efficiency", "adoption", "burndown", "finance_overview", "key_usage", "person",
    "engineer_home", "manager_home", "team", "approvals", "sync_status", "capacity", "capacity_limit",
    "concentration", "what_if", "manager_people_board", "coding_identities",
}  # fmt: skip
BUDGET_PAGES = {
    "engineer_home", "manager_home", "finance_home", "finance_overview", "manager_overview", "team", "burndown",
    "person_budget", "bump", "approvals", "manager_approvals", "sync_status", "capacity", "capacity_limit",
    "concentration", "what_if", "manager_what_if", "manager_people_board", "coding_identities",
}  # fmt: skip


def test_bench_pages_fills_measures_both_sizes_and_cleans_up(db):
    out = io.StringIO()
    call_command(
        "bench", "pages", "--usage-rows", "600", "--small-rows", "100", "--requests", "1", "--warmup", "2",
        "--people", "30", "--keys", "60", "--json", stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["bench"] == "pages" and result["usage_rows"] == 600
    assert set(PAGES) >= REQUIRED
    assert set(result["pages"]) | set(result["skipped"]) >= REQUIRED
    for name, figures in result["pages"].items():
        assert figures["p95_ms"] >= figures["p50_ms"] > 0, name
        assert figures["queries"] > 0 and figures["queries_small"] > 0 and figures["p95_ms_small"] > 0, name
        if name in BUDGET_PAGES:  # the budget pages read the same queries at both sizes
            assert figures["queries"] == figures["queries_small"], name
    assert {"engineer_home", "finance_overview", "team", "approvals", "sync_status"} <= set(result["pages"])
    assert result["rollups"] > 0
    assert result["coding_fill_seconds"] is not None  # the coding-tool pages read a quarter of tool use
    # Left as found.
    assert not ProviderAccount.objects.filter(name="bench-pages").exists()
    assert not User.objects.filter(email__startswith="bench-pages-").exists()
    assert not UsageBucket.objects.exists() and not DailyRollup.objects.exists()
    assert not UsageSummary.objects.exists() and not DailySummary.objects.exists()
    assert not DemandPeak.objects.exists() and not RateLimitRecord.objects.exists()
    assert not CodingIdentity.objects.exists() and not CodingUsage.objects.exists()
    assert not CodingSeat.objects.exists() and not CodingSummary.objects.exists()
