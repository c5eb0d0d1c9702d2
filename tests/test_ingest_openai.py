"""Usage sync against the OpenAI emulator over real HTTP: paging, replace-on-re-pull, reconciliation, failures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from allocator.capacity.models import ThrottleHint
from allocator.models import BilledCost, DailyRollup, ProviderAccount, ProviderKind, SyncRun, UsageBucket
from allocator.providers.base import ProviderError
from allocator.tasks import sync_account, sync_all_accounts
from allocator.usage.reconcile import RESIDUAL_MODEL
from allocator.usage.sync import usage_sync
from tests.budget_factories import MID_QUARTER
from tests.emulators.base import Reply
from tests.factories import KeyFactory
from tests.usage_helpers import assert_rollups_match, bucket_totals, day_start, emulator_account, hour, rollup_totals

pytestmark = pytest.mark.django_db

MINI = "gpt-4o-mini-2024-07-18"


def usage(emulator, hours_ago: int, key: str | None = "key_a", project: str = "proj_a", **counts) -> None:
    values = {"input_tokens": 12_000, "input_cached_tokens": 4_000, "output_tokens": 3_000, "num_model_requests": 42}
    emulator.add_usage(hour(hours_ago), api_key_id=key, model=counts.pop("model", MINI), project_id=project,
                       **{**values, **counts})  # fmt: skip


@pytest.fixture
def account(openai_emulator):
    return emulator_account(ProviderKind.OPENAI, openai_emulator)


@pytest.fixture
def key_a(account, engineer, team):
    return KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")


def test_multi_page_pull_prices_attributes_and_rolls_up(openai_emulator, account, key_a, project, team, engineer):
    rotated = KeyFactory(
        account=account,
        owner_project=project,
        owner_user=None,
        team=team,
        provider_key_id="key_new",
        provider_data={"previous_key_ids": ["key_old"]},
    )
    for h in range(2, 200, 10):  # 200 hours: more than one page of 168 hourly buckets
        usage(openai_emulator, h)
    usage(openai_emulator, 30, key="key_old")  # a rotated key's old id: still its usage
    usage(openai_emulator, 40, key="key_stranger")  # nobody in Allocator has this key: unattributed, kept
    usage(openai_emulator, 41, key=None)  # no key at all (e.g. the dashboard playground): kept too
    openai_emulator.add_usage(hour(50), api_key_id="key_a", model="text-embedding-3-small", project_id="proj_a",
                              kind="embeddings", input_tokens=1_000_000, num_model_requests=10)  # fmt: skip

    run = usage_sync(account=account, since=hour(210))

    assert run.status == SyncRun.Status.SUCCEEDED and run.error == ""
    completions = openai_emulator.requests_to("GET", "/organization/usage/completions")
    assert len(completions) == 2 and completions[1].query_value("page")  # followed next_page
    assert run.pages >= 3 and run.rows == UsageBucket.objects.count() == 24
    mine = UsageBucket.objects.filter(key=key_a, model=MINI)
    assert mine.count() == 20
    # Section 7's check: 12k input (4k cached) + 3k output of gpt-4o-mini cost $0.0033.
    assert set(mine.values_list("cost_usd", flat=True)) == {Decimal("0.003300")}
    assert set(mine.values_list("cost_source", flat=True)) == {"price_table"}
    assert UsageBucket.objects.get(model="text-embedding-3-small").cost_usd == Decimal("0.020000")
    assert UsageBucket.objects.get(provider_key_id="key_old").key == rotated
    stranger = UsageBucket.objects.get(provider_key_id="key_stranger")
    assert stranger.key is None and stranger.cost_usd == Decimal("0.003300")
    assert UsageBucket.objects.get(provider_key_id="").key is None
    assert mine.first().dims == "project_id=proj_a" and mine.first().requests == 42

    assert_rollups_match(account)
    assert rollup_totals(account) == bucket_totals(account)
    erin = DailyRollup.objects.filter(owner_user=engineer).aggregate(total=Sum("cost_usd"))["total"]
    assert erin == Decimal("0.066000") + Decimal("0.020000")  # 20 × $0.0033 + the embeddings
    assert DailyRollup.objects.filter(owner_project=project, key=rotated).exists()
    assert DailyRollup.objects.filter(key__isnull=True).aggregate(n=Sum("requests"))["n"] == 84
    account.refresh_from_db()
    assert account.synced_until == run.window_end and account.last_sync_at is not None


def test_late_data_in_the_overlap_corrects_and_a_re_pull_replaces(openai_emulator, account, key_a):
    for h in (5, 10, 30):
        usage(openai_emulator, h)
    first = usage_sync(account=account, since=hour(40))
    before = bucket_totals(account)
    assert before["requests"] == 126

    # Late data for an hour already pulled: the provider's bucket grows; the next (incremental) sync re-reads it.
    usage(openai_emulator, 5, input_tokens=1_000, input_cached_tokens=0, output_tokens=100, num_model_requests=8)
    second = usage_sync(account=account)
    overlap = first.window_end - timedelta(hours=48)
    assert second.window_start == day_start(overlap)
    late = UsageBucket.objects.get(bucket_start=hour(5))
    assert (late.input_tokens, late.output_tokens, late.requests) == (13_000, 3_100, 50)
    assert bucket_totals(account)["requests"] == 134
    assert_rollups_match(account)

    # The same window again: identical totals, nothing added.
    again = bucket_totals(account), rollup_totals(account), UsageBucket.objects.count()
    usage_sync(account=account)
    assert (bucket_totals(account), rollup_totals(account), UsageBucket.objects.count()) == again

    # The provider no longer reports an hour (corrected to nothing): the re-pull deletes the stored bucket.
    openai_emulator.usage = [r for r in openai_emulator.usage if r["ts"] != int(hour(10).timestamp())]
    usage_sync(account=account)
    assert not UsageBucket.objects.filter(bucket_start=hour(10)).exists()
    assert UsageBucket.objects.filter(bucket_start=hour(30)).exists()  # outside the overlap window: kept
    assert_rollups_match(account)


def test_billed_cost_scales_estimates_per_project_and_day(openai_emulator, account, key_a, engineer, team):
    KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_b")
    yesterday = day_start(hour(0)) - timedelta(days=1)
    for h in (2, 5, 9):
        openai_emulator.add_usage(yesterday + timedelta(hours=h), api_key_id="key_a", model=MINI, project_id="proj_a",
                                  input_tokens=100_000, output_tokens=20_000, num_model_requests=10)  # fmt: skip
    openai_emulator.add_usage(yesterday + timedelta(hours=3), api_key_id="key_b", model="gpt-4o", project_id="proj_a",
                              input_tokens=50_000, output_tokens=5_000, num_model_requests=4)  # fmt: skip
    openai_emulator.add_usage(yesterday + timedelta(hours=4), api_key_id="key_b", model=MINI, project_id="proj_b",
                              input_tokens=10_000, output_tokens=1_000, num_model_requests=1)  # fmt: skip
    # proj_a's estimate is 3 × $0.027 + $0.175 = $0.256; the bill says $0.32 (cached and tool tokens drift).
    openai_emulator.add_cost(yesterday, "0.32", project_id="proj_a")
    openai_emulator.add_cost(yesterday, "0.0021", project_id="proj_b")
    openai_emulator.add_cost(yesterday, "1.5", project_id="proj_c")  # billed, but no usage we could scale

    usage_sync(account=account, since=yesterday)

    proj_a = UsageBucket.objects.filter(dims="project_id=proj_a", bucket_start__date=yesterday.date())
    assert proj_a.aggregate(t=Sum("estimated_cost_usd"))["t"] == Decimal("0.256000")
    assert proj_a.aggregate(t=Sum("cost_usd"))["t"] == Decimal("0.320000")  # to the micro-dollar
    assert set(proj_a.values_list("cost_source", flat=True)) == {"reconciled"}
    gpt4o = proj_a.get(model="gpt-4o")
    assert gpt4o.cost_usd == Decimal("0.218750")  # $0.175 × 0.32 / 0.256
    proj_b = UsageBucket.objects.get(dims="project_id=proj_b")
    assert proj_b.cost_usd == Decimal("0.002100") and proj_b.estimated_cost_usd == Decimal("0.002100")
    residual = UsageBucket.objects.get(dims="project_id=proj_c")
    assert residual.key is None and residual.model == RESIDUAL_MODEL and residual.cost_usd == Decimal("1.5")

    billed = {b.dims: (b.billed_usd, b.estimated_usd) for b in BilledCost.objects.filter(account=account)}
    assert billed == {
        "project_id=proj_a": (Decimal("0.320000"), Decimal("0.256000")),
        "project_id=proj_b": (Decimal("0.002100"), Decimal("0.002100")),
        "project_id=proj_c": (Decimal("1.500000"), Decimal("0")),
    }
    day_total = DailyRollup.objects.filter(account=account, day=yesterday.date()).aggregate(t=Sum("cost_usd"))["t"]
    assert day_total == Decimal("1.822100")  # the bill, not our estimate
    assert_rollups_match(account)

    snapshot = bucket_totals(account), rollup_totals(account), UsageBucket.objects.count()
    usage_sync(account=account, since=yesterday)  # re-pull: same bill, same numbers, one residual row
    assert (bucket_totals(account), rollup_totals(account), UsageBucket.objects.count()) == snapshot


def test_429_with_retry_after_is_waited_out(openai_emulator, account, key_a):
    usage(openai_emulator, 3)
    openai_emulator.fail_next(1, status=429, retry_after=0.01, path_prefix="/organization/usage/completions")
    run = usage_sync(account=account, since=hour(5))
    assert run.status == SyncRun.Status.SUCCEEDED and UsageBucket.objects.count() == 1
    assert len(openai_emulator.requests_to("GET", "/organization/usage/completions")) == 2
    assert ThrottleHint.objects.get(account=account).count == 1  # a capacity hint: the organization is near a limit


@time_machine.travel(MID_QUARTER, tick=True)  # a first sync starts at the quarter's start: not 3 hours before it
def test_5xx_beyond_the_adapter_retries_fails_the_run_and_the_task_retries(
    openai_emulator, account, key_a, eager_celery
):
    usage(openai_emulator, 3)
    openai_emulator.fail_next(3, status=502, path_prefix="/organization/usage/completions")
    sync_account.delay(account.pk, "manual")
    failed, succeeded = SyncRun.objects.order_by("started_at")
    assert failed.status == SyncRun.Status.FAILED and "502" in failed.error
    assert succeeded.status == SyncRun.Status.SUCCEEDED and UsageBucket.objects.count() == 1


def test_a_malformed_page_fails_the_run_and_keeps_the_complete_pages(openai_emulator, account, key_a):
    for h in range(2, 200, 10):
        usage(openai_emulator, h)
    original, calls = openai_emulator._usage, []

    def second_page_broken(request, kind):
        calls.append(kind)
        if len(calls) == 2:
            return Reply(200, b'{"object": "page", "data": [{"start_', {"Content-Type": "application/json"})
        return original(request, kind)

    openai_emulator.override("GET", r"/v1/organization/usage/(?P<kind>[a-z_]+)", second_page_broken)
    with pytest.raises(ProviderError):
        usage_sync(account=account, since=hour(210))

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED and "malformed" in run.error and run.pages == 1
    kept = UsageBucket.objects.count()
    assert 0 < kept < 20
    assert_rollups_match(account)  # the kept page is rolled up
    account.refresh_from_db()
    assert account.synced_until is None  # the window is pulled again next time


def test_timeouts_fail_the_run_with_a_clear_error(openai_emulator, key_a):
    account = emulator_account(ProviderKind.OPENAI, openai_emulator, name="Slow", timeout=0.2)
    openai_emulator.fail_next(2, delay=1.0, path_prefix="/organization/usage")
    with pytest.raises(ProviderError):
        usage_sync(account=account, since=hour(5))
    assert "timed out" in SyncRun.objects.get().error


def test_rejected_credentials_mark_the_account_and_tell_the_admins_once(openai_emulator, admin, eager_celery):
    account = ProviderAccount.objects.create(
        name="OpenAI", kind="openai", base_url=openai_emulator.url, credential="sk-admin-wrong", options={"retries": 0}
    )
    for _ in range(2):
        with pytest.raises(ProviderError):
            usage_sync(account=account, since=hour(5))
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID
    assert "401" in account.status_message and "sk-admin-wrong" not in account.status_message
    assert Notification.objects.filter(user=admin).count() == 1
    assert SyncRun.objects.filter(status="failed").count() == 2

    sync_all_accounts.delay()  # beat leaves it alone until an admin fixes the credential
    assert SyncRun.objects.count() == 2


CREDENTIAL = "sk-admin-4Nq8vTzR2xLmP0aWcYe7JbGs5KdHf3UoViX1"  # 44 characters, like a real admin key


@pytest.mark.parametrize("echo", [CREDENTIAL, CREDENTIAL[:16] + "****" + CREDENTIAL[-4:]], ids=["whole", "masked"])
def test_a_credential_echoed_in_a_long_error_never_reaches_the_status_message(openai_emulator, admin, echo):
    """Defect 12: redaction ran after the error text was cut to 300 characters, so a credential straddling the cut
    (39 of 44 characters) was no longer recognised and landed in the account's status message."""
    openai_emulator.credential = CREDENTIAL  # accepted; the usage endpoint still answers 401 below
    account = ProviderAccount.objects.create(
        name="OpenAI", kind="openai", base_url=openai_emulator.url, credential=CREDENTIAL, options={"retries": 0}
    )
    said = "Incorrect API key provided: "
    body = "x" * (300 - 39 - len(said)) + said + echo + ". You can find your API key at the dashboard."
    openai_emulator.override(
        "GET", r"/v1/organization/usage/(?P<kind>[a-z_]+)", lambda request, kind: Reply(401, body.encode())
    )
    with pytest.raises(ProviderError):
        usage_sync(account=account, since=hour(5))
    account.refresh_from_db()
    run = SyncRun.objects.get()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID and "401" in account.status_message
    for text in (account.status_message, run.error, Notification.objects.get(user=admin).text):
        assert CREDENTIAL[:12] not in text and "[credential]" in text


def test_openai_per_key_billed_cost_is_taken_as_is_in_a_project_mixing_batch_and_normal_usage(
    openai_emulator, account, key_a, engineer, team
):
    """Defect 17: costs are asked per key (group_by api_key_id), so a key using Batch (billed at half price) and a
    key using normal requests in the same project each get their own bill; only cost no key carries is spread."""
    KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_b")
    yesterday = day_start(hour(0)) - timedelta(days=1)
    tokens = {"model": MINI, "project_id": "proj_a", "input_tokens": 100_000, "output_tokens": 20_000}
    for h in (2, 5):  # $0.027 each at the price table
        openai_emulator.add_usage(yesterday + timedelta(hours=h), api_key_id="key_a", batch=True,
                                  num_model_requests=10, **tokens)  # fmt: skip
        openai_emulator.add_usage(yesterday + timedelta(hours=h), api_key_id="key_b", num_model_requests=10, **tokens)
    openai_emulator.add_usage(yesterday + timedelta(hours=7), api_key_id=None, num_model_requests=1, **tokens)
    openai_emulator.add_cost(yesterday, "0.027", project_id="proj_a", api_key_id="key_a")  # batch: half of $0.054
    openai_emulator.add_cost(yesterday, "0.054", project_id="proj_a", api_key_id="key_b")
    openai_emulator.add_cost(yesterday, "0.03", project_id="proj_a")  # the playground: no key

    usage_sync(account=account, since=yesterday)

    day = UsageBucket.objects.filter(account=account, bucket_start__date=yesterday.date())
    per_key = dict(day.values("provider_key_id").annotate(cost=Sum("cost_usd")).values_list("provider_key_id", "cost"))
    assert per_key == {"key_a": Decimal("0.027000"), "key_b": Decimal("0.054000"), "": Decimal("0.030000")}
    assert set(day.values_list("cost_source", flat=True)) == {"reconciled"}
    billed = dict(BilledCost.objects.filter(account=account).values_list("dims", "billed_usd"))
    assert billed == {
        "api_key_id=key_a&project_id=proj_a": Decimal("0.027000"),
        "api_key_id=key_b&project_id=proj_a": Decimal("0.054000"),
        "project_id=proj_a": Decimal("0.030000"),
    }
    assert_rollups_match(account)


def test_queries_per_sync_do_not_grow_with_rows(openai_emulator, account, key_a, engineer, team):
    for n in range(1, 120):
        KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id=f"key_{n}")

    def sync_with(keys: int, hours_back: int) -> int:
        UsageBucket.objects.all().delete()
        openai_emulator.usage.clear()
        for k in range(keys):
            for h in range(3):
                usage(openai_emulator, hours_back + h, key=f"key_{k + 1}")
        with CaptureQueriesContext(connection) as queries:
            usage_sync(account=account, since=hour(hours_back + 5), until=hour(hours_back - 1), enforce=False)
        return len(queries)

    few, many = sync_with(2, 10), sync_with(100, 10)
    assert UsageBucket.objects.count() == 300
    assert few == many
