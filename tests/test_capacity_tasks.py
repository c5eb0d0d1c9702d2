"""Beat's capacity tasks (ids in, services called) and the share of peak demand the concentration view reads."""

from __future__ import annotations

from django.utils import timezone

from allocator.capacity.headroom import peak_share
from allocator.capacity.models import CapacityRead, DemandPeak, RateLimitRecord
from allocator.capacity.tasks import capacity_demand_all, capacity_limits_all
from allocator.models import ProviderAccount
from allocator.providers import capacity
from allocator.quarters import Quarter
from tests.capacity_helpers import limit_of, peaks_of


def test_beat_reads_limits_and_demand_of_every_enabled_account(simulated, eager_celery):
    ProviderAccount.objects.create(name="Off", kind="simulated", enabled=False)
    assert capacity_limits_all() == 1
    assert RateLimitRecord.objects.filter(account=simulated).exists()
    assert capacity_demand_all() == 1
    assert DemandPeak.objects.filter(account=simulated).exists()  # yesterday and today (just after midnight: yesterday)
    read = CapacityRead.objects.get(account=simulated)
    assert read.limits_read_at and read.demand_read_at and not read.demand_error


def test_peak_share_per_provider_and_account(simulated):
    today = timezone.now().date()
    other = ProviderAccount.objects.create(name="Prod-OpenAI", kind="openai")
    quarter = Quarter.current()
    for account, peak in ((simulated, 300), (other, 100)):
        limit = limit_of(account, value=10_000)
        peaks_of(limit, {today: peak})
    limit_of(other, value=10_000, model="gpt-4o", dimension=capacity.TOKENS_PER_MINUTE)
    assert peak_share(quarter) == {
        "providers": {"simulated": 0.75, "openai": 0.25},
        "accounts": {"Simulated": 0.75, "Prod-OpenAI": 0.25},
    }
    assert peak_share(quarter.previous()) == {"providers": {}, "accounts": {}}


def test_a_capacity_alert_reaches_finance_and_admins_not_the_team(simulated, cast, mailoutbox):
    from accounts.models import Notification
    from allocator.capacity.alerts import CAPACITY_SCOPE, capacity_alerts_raise
    from budgets.alerts import alert_deliver
    from budgets.models import Alert

    today = timezone.now().date()
    limit = limit_of(simulated, value=1000)
    peaks_of(limit, {today: 950})
    assert capacity_alerts_raise(today=today) >= 1
    alert = Alert.objects.filter(scope=CAPACITY_SCOPE).first()
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    told = set(Notification.objects.values_list("user__email", flat=True))
    assert told == {cast["finance"].email, cast["admin"].email}
    assert {cast["finance"].email, cast["admin"].email} == set(mailoutbox[0].to)  # no Slack set: email
