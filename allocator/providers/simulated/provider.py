"""The built-in simulated provider: mints fake keys and generates plausible usage, no credentials needed.

It plays the provider's side, so it keeps its own state (SimulatedKey rows) apart from Allocator's Key rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from allocator.providers.base import Capabilities, MintedKey, Provider, ProviderError, RemoteKey, UsageRow


class SimulatedProvider(Provider):
    kind = "simulated"
    default_base_url = "simulated://local"
    capabilities = Capabilities(
        mint=True,
        suspend=True,
        revoke=True,
        list_keys=True,
        provider_limit=False,
        usage=True,
        cost=False,
        per_key_cost=False,
        request_counts=True,
        rate_limits=True,
        minute_usage=True,
    )
    usage_bucket_width = "1h"
    recent_usage_calls = 0  # it runs inside Allocator: no provider calls
    display_name = "Simulated (built in)"
    client_base_url = "https://simulated.invalid/v1"
    credential_label = "Credential"
    credential_help = "None needed: the simulated provider runs inside Allocator and mints fake keys."
    reads_database = True  # it plays its part from SimulatedKey rows
    reports_real_models = True

    @property
    def account_id(self) -> int:
        return int(self.options.get("account_id") or 0)

    def _get(self, provider_key_id: str):
        from allocator.providers.simulated.models import SimulatedKey

        try:
            return SimulatedKey.objects.get(account_id=self.account_id, key_id=provider_key_id)
        except SimulatedKey.DoesNotExist as e:
            raise ProviderError(f"simulated provider: no key {provider_key_id}", permanent=True, status=404) from e

    def check_connection(self) -> str:
        from allocator.providers.simulated.models import SimulatedKey

        count = SimulatedKey.objects.filter(account_id=self.account_id, revoked=False).count()
        return f"Simulated provider ready: {count} keys"

    def mint_key(self, *, name: str, limit_usd: Decimal | None = None, expires_at: datetime | None = None) -> MintedKey:
        from allocator.providers.simulated.models import SimulatedKey

        secret = "sk-sim-" + secrets.token_urlsafe(32)
        key_id = "simkey_" + secrets.token_hex(8)
        hint = f"sk-sim-…{secret[-4:]}"
        SimulatedKey.objects.create(
            account_id=self.account_id,
            key_id=key_id,
            name=name,
            hint=hint,
            limit_usd=limit_usd,
            profile=self.options.get("profile_for_new_keys") or {},
        )
        return MintedKey(provider_key_id=key_id, secret=secret, hint=hint, name=name)

    def suspend_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        key = self._get(provider_key_id)
        key.suspend()
        key.save(update_fields=["disabled", "disabled_at"])

    def reinstate_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        key = self._get(provider_key_id)
        key.reinstate()
        key.save(update_fields=["disabled", "disabled_at", "past_suspensions"])
        return None

    def revoke_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        key = self._get(provider_key_id)
        key.revoke()
        key.save(update_fields=["revoked", "disabled_at"])

    def list_keys(self) -> list[RemoteKey]:
        from allocator.providers.simulated.models import SimulatedKey

        return [
            RemoteKey(
                provider_key_id=k.key_id,
                name=k.name,
                hint=k.hint,
                status="revoked" if k.revoked else "suspended" if k.disabled else "active",
                created_at=k.created_at,
            )
            for k in SimulatedKey.objects.filter(account_id=self.account_id).order_by("created_at")
        ]

    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        from allocator.providers.simulated.usage import simulated_usage_pages

        yield from simulated_usage_pages(account_id=self.account_id, start=start, end=end)

    def rate_limits(self, *, scope_ids: tuple[str, ...] = ()):
        from allocator.providers.simulated.minutes import simulated_rate_limits

        return simulated_rate_limits(self.options)

    def minute_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        from allocator.providers.simulated.minutes import simulated_minute_pages

        yield from simulated_minute_pages(options=self.options, start=start, end=end)
