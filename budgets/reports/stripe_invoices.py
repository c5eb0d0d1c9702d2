"""Stripe invoices of a closed quarter: one finalized invoice per cost center, never two.

Each cost center maps to a Stripe customer (StripeCustomer; finance sets it on the chargeback page, or has one
created). "Invoice this quarter" then, per cost center with a positive frozen total:

1. creates a draft invoice (`pending_invoice_items_behavior=exclude`, so stray pending items stay out),
2. adds one invoice item per team × build/run line (and per late-usage adjustment line), attached with
   `invoice=<draft id>`, amounts in cents rounded so they add up to the cost center's total to the cent,
3. finalizes it.

Every POST carries an idempotency key derived from (quarter, cost center, line), and every Stripe id is stored the
moment it exists. A second click finds the invoice finalized and does nothing; a run that stopped half way (a
timeout, a retried task) resumes from the stored ids, and a step whose answer was lost is replayed by Stripe from
its idempotency key instead of being done twice.

Webhooks (`invoice.finalized`, `.paid`, `.voided`, `.marked_uncollectible`) are verified with the SDK's own
`stripe.Webhook.construct_event` (signing secret `STRIPE_WEBHOOK_SECRET`, 300 s tolerance, so old signatures
are refused); the same signed request twice is refused by a `cache.add` on the shared cache; an event older than
the state already recorded is ignored (Stripe does not promise order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum

from accounts.models import AuditEvent, CostCenter, User
from accounts.permissions import Access
from allocator.money import ZERO, usd
from allocator.quarters import Quarter
from budgets.reports.models import FrozenLine, Kind, QuarterClose, StripeCustomer, StripeInvoice

CUSTOMER_ID_MAX = 64
WEBHOOK_TOLERANCE = 300  # seconds; stripe.Webhook's default
EVENT_STATUS = {
    "invoice.finalized": StripeInvoice.Status.OPEN,
    "invoice.paid": StripeInvoice.Status.PAID,
    "invoice.payment_succeeded": StripeInvoice.Status.PAID,
    "invoice.voided": StripeInvoice.Status.VOID,
    "invoice.marked_uncollectible": StripeInvoice.Status.UNCOLLECTIBLE,
}


class StripeProblem(Exception):
    """Stripe refused or could not be reached; the message is safe to show (no key in it)."""


def stripe_configured() -> bool:
    return bool(settings.STRIPE_API_KEY)


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_API_KEY:
        raise StripeProblem("Stripe is not configured: set STRIPE_API_KEY.")
    bases = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_API_KEY, base_addresses=bases, max_network_retries=2)


def _idempotency_key(*parts: str) -> str:
    raw = ":".join(("allocator", *parts))
    if len(raw) <= 200:
        return raw
    return raw[:150] + ":" + hashlib.sha256(raw.encode()).hexdigest()


# --- customers -----------------------------------------------------------------------------------------


def stripe_customer_set(*, cost_center: CostCenter, customer_id: str, by: User) -> StripeCustomer | None:
    """Map a cost center to a Stripe customer id (blank removes the mapping)."""
    if not Access(by).is_finance:
        raise PermissionDenied("Finance maps cost centers to Stripe customers.")
    customer_id = customer_id.strip()
    if customer_id and (len(customer_id) > CUSTOMER_ID_MAX or not customer_id.startswith("cus_")):
        raise ValidationError(f"A Stripe customer id starts with cus_ and has at most {CUSTOMER_ID_MAX} characters.")
    if not customer_id:
        StripeCustomer.objects.filter(cost_center=cost_center).delete()
        mapping = None
    else:
        mapping, _ = StripeCustomer.objects.update_or_create(
            cost_center=cost_center, defaults={"customer_id": customer_id}
        )
    AuditEvent.record("stripe.customer_set", actor=by, target=cost_center, customer_id=customer_id or None)
    return mapping


def stripe_customer_create(*, cost_center: CostCenter, by: User) -> StripeCustomer:
    """Create the cost center's customer at Stripe (once: the idempotency key is the cost center) and map it."""
    if not Access(by).is_finance:
        raise PermissionDenied("Finance maps cost centers to Stripe customers.")
    try:
        customer = stripe_client().v1.customers.create(
            params={"name": str(cost_center)[:250], "metadata": {"cost_center": cost_center.code}},
            options={"idempotency_key": _idempotency_key("customer", str(cost_center.pk))},
        )
    except stripe.StripeError as error:
        raise StripeProblem(f"Stripe refused to create the customer: {error.user_message or error}") from error
    return stripe_customer_set(cost_center=cost_center, customer_id=customer.id, by=by)


# --- invoices ------------------------------------------------------------------------------------------


@dataclass
class InvoiceLine:
    key: str
    description: str
    cost_usd: Decimal
    cents: int = 0


def invoice_lines(*, close: QuarterClose) -> dict[int, list[InvoiceLine]]:
    """Per cost center: one line per team × build/run (adjustments per quarter they belong to), from the frozen
    lines (one grouped query). Cents are rounded on the running total, so they add up to the rounded total."""
    rows = (
        FrozenLine.objects.filter(close=close, cost_center_id__isnull=False)
        .values("cost_center_id", "category", "for_quarter", "team_id", "team_name", "kind")
        .annotate(cost=Sum("cost_usd"))
        .order_by("cost_center_id", "category", "for_quarter", "team_name", "kind")
    )
    out: dict[int, list[InvoiceLine]] = {}
    for row in rows:
        kind = Kind(row["kind"]).label.lower() if row["kind"] in Kind.values else row["kind"]
        what = f"{row['team_name']}, {kind} ({close.quarter})"
        if row["category"] == "adjustment":
            what = f"{row['team_name']}, {kind}: late usage of {row['for_quarter']}"
        key = f"{row['for_quarter']}-{row['category']}-{row['team_id']}-{row['kind']}"
        out.setdefault(row["cost_center_id"], []).append(InvoiceLine(key, what, row["cost"] or ZERO))
    for lines in out.values():
        running, billed = ZERO, 0
        for line in lines:
            running += line.cost_usd
            total_cents = int((running * 100).quantize(Decimal("1"), ROUND_HALF_UP))
            line.cents, billed = total_cents - billed, total_cents
    return out


def _invoice_one(client: stripe.StripeClient, row: StripeInvoice, lines: list[InvoiceLine]) -> StripeInvoice:
    base = (row.quarter, row.cost_center.code)
    if not row.invoice_id:
        invoice = client.v1.invoices.create(
            params={
                "customer": row.customer_id,
                "description": f"AI usage chargeback {row.quarter}: {row.cost_center}"[:500],
                "metadata": {"quarter": row.quarter, "cost_center": row.cost_center.code},
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
            },
            options={"idempotency_key": _idempotency_key(*base, "invoice")},
        )
        row.invoice_id = invoice.id
        row.save(update_fields=["invoice_id"])
    for line in lines:
        if line.key in row.item_ids or line.cents == 0:
            continue
        item = client.v1.invoice_items.create(
            params={
                "customer": row.customer_id,
                "invoice": row.invoice_id,
                "amount": line.cents,
                "currency": "usd",
                "description": line.description[:500],
                "metadata": {"quarter": row.quarter, "cost_center": row.cost_center.code, "line": line.key},
            },
            options={"idempotency_key": _idempotency_key(*base, "item", line.key)},
        )
        row.item_ids[line.key] = item.id
        row.save(update_fields=["item_ids"])
    invoice = client.v1.invoices.finalize_invoice(
        row.invoice_id, options={"idempotency_key": _idempotency_key(*base, "finalize")}
    )
    row.status = invoice.status or StripeInvoice.Status.OPEN
    row.number = getattr(invoice, "number", None) or ""
    row.hosted_url = (getattr(invoice, "hosted_invoice_url", None) or "")[:500]
    row.amount_cents = int(getattr(invoice, "amount_due", None) or sum(line.cents for line in lines))
    row.save(update_fields=["status", "number", "hosted_url", "amount_cents"])
    return row


def quarter_invoice(*, quarter: Quarter, by: User) -> list[StripeInvoice]:
    """Invoice every mapped cost center of the closed `quarter` once. Returns the invoices finalized now."""
    if not Access(by).is_finance:
        raise PermissionDenied("Finance invoices cost centers.")
    close = QuarterClose.objects.filter(quarter=quarter.name).first()
    if close is None:
        raise ValidationError(f"Close {quarter} first: invoices bill the frozen chargeback.")
    customers = {m.cost_center_id: m.customer_id for m in StripeCustomer.objects.all()}
    lines = invoice_lines(close=close)
    centers = CostCenter.objects.in_bulk(list(lines))
    client = stripe_client()
    done = []
    for cc_id, cc_lines in lines.items():
        total = sum(line.cents for line in cc_lines)
        if cc_id not in customers or total <= 0:
            continue
        with transaction.atomic():
            row, _ = StripeInvoice.objects.select_for_update().get_or_create(
                quarter=quarter.name,
                cost_center=centers[cc_id],
                defaults={"customer_id": customers[cc_id], "amount_cents": total},
            )
        if row.finalized:
            continue
        try:
            _invoice_one(client, row, cc_lines)
        except stripe.StripeError as error:
            raise StripeProblem(
                f"Stripe stopped the invoice of {row.cost_center}: {error.user_message or error}. "
                "What was created is kept; Invoice again to finish."
            ) from error
        AuditEvent.record(
            "chargeback.invoiced",
            actor=by,
            target=row,
            quarter=quarter.name,
            cost_center=row.cost_center.code,
            invoice_id=row.invoice_id,
            amount=usd(Decimal(row.amount_cents) / 100),
        )
        done.append(row)
    return done


# --- webhooks ------------------------------------------------------------------------------------------


class WebhookRefused(Exception):
    pass


def stripe_event_verify(*, payload: bytes, signature: str) -> Any:
    """The verified event, or WebhookRefused (bad or old signature, no secret set, the same request twice)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as error:
        raise WebhookRefused("Signature check failed (wrong signature or too old).") from error
    except ValueError as error:
        raise WebhookRefused("Not a Stripe event.") from error
    digest = hashlib.sha256(signature.encode()).hexdigest()
    if not cache.add(f"stripe-signature:{digest}", 1, WEBHOOK_TOLERANCE * 2):
        raise WebhookRefused("This signed request was already received.")
    return event


def stripe_event_apply(event: Any) -> str:
    """Record what an invoice event says; returns what happened (for the response and logs)."""
    status = EVENT_STATUS.get(event["type"])
    if status is None:
        return "ignored: event type"
    invoice_id = event["data"]["object"]["id"]
    happened = datetime.fromtimestamp(int(event["created"]), tz=UTC)
    with transaction.atomic():
        row = StripeInvoice.objects.select_for_update().filter(invoice_id=invoice_id).first()
        if row is None:
            return "ignored: not our invoice"
        if row.status_at is not None and happened < row.status_at:
            return "ignored: stale"
        previous = row.status
        row.status, row.status_at = status, happened
        row.save(update_fields=["status", "status_at"])
        AuditEvent.record(
            "stripe.invoice_status",
            target=row,
            event_id=event["id"],
            event_type=event["type"],
            previous=previous,
            status=status,
        )
    return f"recorded: {status}"
