"""`manage.py summaries_rebuild [--quarter FY2027-Q1]`: rebuild the usage summaries from the rollups.

Syncs keep the summaries in step on their own; this is for repairs (rollups edited by hand, a restored backup).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from allocator.quarters import Quarter
from allocator.usage.summaries import summaries_rebuild


class Command(BaseCommand):
    help = "Rebuild the usage summaries of a quarter (default: the current and the previous quarter)."

    def add_arguments(self, parser):
        parser.add_argument("--quarter", help="A fiscal quarter, e.g. FY2027-Q1. Default: current and previous.")

    def handle(self, *args, quarter: str | None = None, **options):
        if quarter:
            try:
                quarters = [Quarter.parse(quarter)]
            except ValueError as e:
                raise CommandError(str(e)) from e
        else:
            current = Quarter.current()
            quarters = [current.previous(), current]
        for each in quarters:
            summaries_rebuild(quarter=each)
            self.stdout.write(f"Rebuilt the usage summaries of {each}.")
