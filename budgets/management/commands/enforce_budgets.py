"""Run budget enforcement once (what the worker does after every usage sync)."""

import json

from django.core.management.base import BaseCommand

from budgets.alerts import alert_deliver, alerts_due, approval_alerts_sync
from budgets.enforce import enforce_budgets


class Command(BaseCommand):
    help = "Compare spend with every budget of the current quarter: alerts, suspensions, reinstatements, caps."

    def add_arguments(self, parser):
        parser.add_argument("--deliver", action="store_true", help="Also deliver due alerts now (no worker needed).")
        parser.add_argument("--json", action="store_true", help="Print the report as one JSON line.")

    def handle(self, *args, **options):
        report = enforce_budgets()
        delivered = 0
        if options["deliver"]:
            approval_alerts_sync()
            for alert_id in alerts_due():
                delivered += alert_deliver(alert_id=alert_id).status == "sent"
        if options["json"]:
            self.stdout.write(json.dumps({**report.as_dict(), "delivered": delivered}))
            return
        self.stdout.write(
            f"{report.quarter}: {report.budgets} budgets, {report.keys} keys checked; "
            f"{report.alerts_created} new alerts, {len(report.suspended)} suspended, "
            f"{len(report.reinstated)} reinstated, {len(report.limits_set)} provider caps set, "
            f"{len(report.runaway)} runaway."
        )
        if options["deliver"]:
            self.stdout.write(f"Delivered {delivered} alerts.")
        for error in report.errors:
            self.stderr.write(self.style.WARNING(error))
