"""Provider accounts on loopback emulators, seeded with usage, and the fault scripts the fault tests play.

`fleet_account` makes an account of any usage-reporting provider on its emulator with two keys and a few days of
hourly (OpenAI, Anthropic) or daily (OpenRouter) usage; `clean_twin` makes a second account on the same emulator
with the same provider key ids, so a clean sync of it gives the totals a faulty sync must end in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.models import Team, User
from allocator.models import Key, ProviderAccount, ProviderKind
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import Emulator
from tests.emulators.openai import OpenAIEmulator
from tests.emulators.openrouter import OpenRouterEmulator
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account, hour

USAGE_KINDS = (ProviderKind.OPENAI, ProviderKind.ANTHROPIC, ProviderKind.OPENROUTER)
EMULATORS: dict[str, type[Emulator]] = {
    ProviderKind.OPENAI: OpenAIEmulator,
    ProviderKind.ANTHROPIC: AnthropicEmulator,
    ProviderKind.OPENROUTER: OpenRouterEmulator,
}
# The paths a usage pull reads page by page (faults aimed there hit the sync, not key listing or costs).
USAGE_PATHS = {
    ProviderKind.OPENAI: "/organization/usage",
    ProviderKind.ANTHROPIC: "/v1/organizations/usage_report",
    ProviderKind.OPENROUTER: "/activity",
}
HOURS = range(2, 200, 5)  # about eight days back: two report pages of hourly buckets, eight days of activity
SINCE_HOURS = 210  # a window that holds all of HOURS


@dataclass
class Seeded:
    kind: str
    emulator: Emulator
    account: ProviderAccount
    key_ids: list[str]


def _remote_keys(kind: str, emulator: Emulator, label: str) -> list[str]:
    if kind == ProviderKind.OPENROUTER:
        return [emulator.add_key(f"{label}-{n}")["hash"] for n in range(2)]
    if kind == ProviderKind.ANTHROPIC:
        return [emulator.add_key(f"{label}-{n}", workspace_id="wrkspc_fleet")["id"] for n in range(2)]
    return [f"key_{label}_{n}" for n in range(2)]


def _seed_usage(kind: str, emulator: Emulator, key_ids: list[str], scale: int, hours: range) -> None:
    for n, key_id in enumerate(key_ids):
        tokens = 1_000 * scale * (n + 1)
        if kind == ProviderKind.OPENROUTER:
            for day in sorted({hour(h).date() for h in hours if hour(h).date() < hour(0).date()}):
                emulator.add_activity(day, api_key_hash=key_id, model="openai/gpt-4o-mini", usage=f"{scale * (n + 1)}",
                                      requests=10, prompt_tokens=tokens, completion_tokens=tokens // 10)  # fmt: skip
            continue
        for h in hours:
            if kind == ProviderKind.ANTHROPIC:
                emulator.add_usage(hour(h), api_key_id=key_id, model="claude-sonnet-4-20250514",
                                   workspace_id="wrkspc_fleet", uncached_input_tokens=tokens,
                                   cache_read_input_tokens=tokens // 5, output_tokens=tokens // 10)  # fmt: skip
            else:
                emulator.add_usage(hour(h), api_key_id=key_id, model="gpt-4o-mini", project_id="proj_fleet",
                                   input_tokens=tokens, input_cached_tokens=tokens // 5, output_tokens=tokens // 10,
                                   num_model_requests=7)  # fmt: skip


def fleet_account(
    kind: str,
    emulator: Emulator,
    *,
    name: str,
    owner: User,
    team: Team,
    scale: int = 1,
    hours: range = HOURS,
    **options,
) -> Seeded:
    """An account on `emulator` with two keys of `owner` in `team` and their usage in `hours` (hours ago)."""
    account = emulator_account(kind, emulator, name=name, **options)
    key_ids = _remote_keys(kind, emulator, name.lower().replace(" ", "-"))
    for key_id in key_ids:
        KeyFactory(account=account, owner_user=owner, team=team, provider_key_id=key_id)
    _seed_usage(kind, emulator, key_ids, scale, hours)
    return Seeded(kind, emulator, account, key_ids)


def clean_twin(seeded: Seeded) -> ProviderAccount:
    """A second account on the same emulator holding the same keys (owner, team, provider ids)."""
    twin = emulator_account(seeded.kind, seeded.emulator, name=f"{seeded.account.name} (clean)")
    for key in Key.objects.filter(account=seeded.account):
        KeyFactory(account=twin, owner_user=key.owner_user, team=key.team, provider_key_id=key.provider_key_id)
    return twin


def since() -> datetime:
    return hour(SINCE_HOURS)


def pass_through(emulator: Emulator, *, path_prefix: str) -> None:
    """A slot in a fault script that answers normally (faults are taken in the order they were added)."""
    emulator.fail_next(1, delay=0.001, path_prefix=path_prefix)
