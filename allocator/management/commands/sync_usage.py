"""`manage.py sync_usage [--account NAME] [--since ISO-8601]`: pull usage in the foreground, with a progress bar.

For back-fills and debugging: it runs the same service as the Celery task (same lock, same replace rules), so
it is safe while workers run (it stands back if a worker is syncing the same account).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from allocator.models import ProviderAccount, SyncRun
from allocator.providers.base import ProviderError
from allocator.usage.sync import sync_window, usage_sync


def parse_moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise CommandError(f"Not an ISO-8601 date or time: {value!r} (e.g. 2026-07-01 or 2026-07-01T12:00Z)") from e
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Command(BaseCommand):
    help = "Pull, price and roll up usage now (all enabled accounts, or one)."

    def add_arguments(self, parser):
        parser.add_argument("--account", help="Provider account name (default: every enabled account).")
        parser.add_argument("--since", help="Start of the window (ISO-8601, UTC if no offset). Default: incremental.")
        parser.add_argument("--until", help="End of the window (ISO-8601). Default: now.")

    def handle(self, *args, account: str | None = None, since: str | None = None, until: str | None = None, **options):
        accounts = ProviderAccount.objects.filter(enabled=True)
        if account:
            accounts = ProviderAccount.objects.filter(name=account)
            if not accounts.exists():
                names = ", ".join(ProviderAccount.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No provider account named {account!r} (accounts: {names}).")
        start = parse_moment(since) if since else None
        end = parse_moment(until) if until else None
        failed = 0
        for acc in accounts:
            failed += not self._sync(acc, start, end, verbosity=options["verbosity"])
        if failed:
            raise CommandError(f"{failed} sync(s) failed; see above.")

    def _sync(self, account: ProviderAccount, since: datetime | None, until: datetime | None, verbosity: int) -> bool:
        window = sync_window(account=account, since=since, until=until)
        label = f"{account.name}: {window[0]:%Y-%m-%d} → {window[1]:%Y-%m-%d %H:%M}"
        with tqdm(desc=label, unit=" rows", disable=verbosity == 0, file=self.stderr._out) as bar:

            def progress(run: SyncRun) -> None:
                bar.update(run.rows - bar.n)
                bar.set_postfix(pages=run.pages)

            try:
                run = usage_sync(account=account, since=since, until=until, trigger="command", progress=progress)
            except ProviderError as error:
                bar.close()
                self.stderr.write(self.style.ERROR(f"{account.name}: {error}"))
                return False
        if run is None:
            self.stdout.write(self.style.WARNING(f"{account.name}: another sync is running; skipped."))
            return True
        unknown = f"; priced at $0 (unknown models): {', '.join(run.unknown_models)}" if run.unknown_models else ""
        self.stdout.write(
            self.style.SUCCESS(f"{account.name}: {run.rows} rows in {run.pages} pages, {run.get_status_display()}")
            + unknown
        )
        return run.status == SyncRun.Status.SUCCEEDED
