"""`manage.py export_chargeback --quarter FY2027-Q1 --format csv|focus|xlsx -o FILE`: the chargeback export the
page offers, written to a file (or stdout for the CSV formats), streamed, audited like a download."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from allocator.quarters import Quarter
from budgets.reports.downloads import FORMATS, chargeback_export


class Command(BaseCommand):
    help = "Write a quarter's chargeback as CSV, FOCUS 1.3 CSV or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("--quarter", default="", help="e.g. FY2027-Q1 (default: the current quarter)")
        parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="csv")
        parser.add_argument("-o", "--output", default="-", help="file to write (default: stdout; not for xlsx)")

    def handle(self, *args, quarter: str, fmt: str, output: str, **options):
        try:
            chosen = Quarter.parse(quarter) if quarter.strip() else Quarter.current()
        except ValueError as error:
            raise CommandError(str(error)) from error
        if fmt == "xlsx" and output == "-":
            raise CommandError("XLSX is binary: give a file with -o.")
        export = chargeback_export(fmt=fmt, quarter=chosen, by=None, via="command")
        if output == "-":
            for chunk in export.chunks:
                sys.stdout.write(chunk)
            return
        mode = "wb" if fmt == "xlsx" else "w"
        with open(output, mode, **({} if fmt == "xlsx" else {"encoding": "utf-8", "newline": ""})) as handle:
            for chunk in export.chunks:
                handle.write(chunk)
        self.stderr.write(f"Wrote the {chosen} chargeback ({fmt}) to {output}.")
