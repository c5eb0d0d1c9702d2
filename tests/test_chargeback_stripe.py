"""Stripe invoices against localstripe (a stateful fake Stripe server, started on loopback by a fixture): one
finalized invoice per cost center of a closed quarter, whatever the number of clicks or retries; the Stripe ids
are stored and shown; the webhook checks the signature, refuses old and replayed requests and marks invoices paid,
void or uncollectible."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import stripe
from django.urls import reverse

from accounts.models import AuditEvent
from budgets.reports.close import quarter_close
from budgets.reports.models import StripeCustomer, StripeInvoice
from budgets.reports.stripe_invoices import invoice_lines, quarter_invoice
from tests.budget_factories import spend
from tests.chargeback_helpers import Q3, early_q4  # noqa: F401
from tests.conftest import login
from tests.factories import KeyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_q4")]
INVOICE = reverse("budgets:chargeback_invoice")
WEBHOOK = reverse("budgets:stripe_webhook")
SECRET = "whsec_test_secret"


@pytest.fixture
def closed_q3(finance, team, other_team, engineer, outsider, project, simulated):
    day = Q3.last_day
    spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "10.004", day=day)
    spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "0.003", day=day)
    spend(KeyFactory(account=simulated, owner_project=project, owner_user=None, team=team), "20.005", day=day)
    spend(KeyFactory(account=simulated, owner_user=outsider, team=other_team), "5.50", day=day)
    return quarter_close(quarter=Q3, by=finance)


@pytest.fixture
def customers(localstripe, team, other_team, finance):
    client = login(finance)
    for cc in (team.cost_center, other_team.cost_center):
        client.post(reverse("budgets:chargeback_customers"), {"quarter": "FY2026-Q3", "create": str(cc.pk)})
    return {m.cost_center_id: m.customer_id for m in StripeCustomer.objects.all()}


def stripe_invoices_of(localstripe, customer_id: str) -> list[dict]:
    return localstripe.get("/v1/invoices", customer=customer_id)["data"]


def test_invoicing_twice_leaves_one_finalized_invoice_per_cost_center(closed_q3, customers, localstripe, finance, team):
    client = login(finance)
    first = client.post(INVOICE, {"quarter": "FY2026-Q3"}, follow=True).content.decode()
    assert "Finalized 2 invoices at Stripe." in first
    second = client.post(INVOICE, {"quarter": "FY2026-Q3"}, follow=True).content.decode()
    assert "Nothing new to invoice" in second

    assert len(customers) == 2
    for customer_id in customers.values():
        invoices = stripe_invoices_of(localstripe, customer_id)
        assert len(invoices) == 1 and invoices[0]["status"] == "open"
    ours = StripeInvoice.objects.get(cost_center=team.cost_center)
    remote = stripe_invoices_of(localstripe, ours.customer_id)[0]
    assert ours.invoice_id == remote["id"] and ours.status == "open"
    # Items add up to the cost center's total in cents ($30.012 → $30.01), one per team × build/run.
    assert remote["amount_due"] == ours.amount_cents == 3001
    assert len(ours.item_ids) == 2 and len(remote["lines"]["data"]) == 2
    assert ours.invoice_id in second  # shown on the page
    assert AuditEvent.objects.filter(action="chargeback.invoiced").count() == 2


def test_a_run_that_stopped_half_way_resumes_without_billing_twice(closed_q3, customers, localstripe, finance, team):
    row = StripeInvoice.objects.create(
        quarter="FY2026-Q3", cost_center=team.cost_center, customer_id=customers[team.cost_center_id]
    )
    # A first attempt created the draft at Stripe and died before storing its id: the retry sends the same
    # idempotency key, Stripe answers with the same draft, and no second invoice appears.
    client = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": localstripe.url})
    draft = client.v1.invoices.create(
        params={
            "customer": row.customer_id,
            "description": f"AI usage chargeback FY2026-Q3: {team.cost_center}",
            "metadata": {"quarter": "FY2026-Q3", "cost_center": team.cost_center.code},
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
        },
        options={"idempotency_key": f"allocator:FY2026-Q3:{team.cost_center.code}:invoice"},
    )
    quarter_invoice(quarter=Q3, by=finance)
    row.refresh_from_db()
    assert row.invoice_id == draft.id and row.status == "open"
    assert len(stripe_invoices_of(localstripe, row.customer_id)) == 1


def test_cents_add_up_to_the_rounded_total(closed_q3):
    lines = invoice_lines(close=closed_q3)
    for cc_lines in lines.values():
        total = sum((line.cost_usd for line in cc_lines), Decimal("0"))
        assert sum(line.cents for line in cc_lines) == int((total * 100).quantize(Decimal("1"), "ROUND_HALF_UP"))


def test_an_open_quarter_cannot_be_invoiced(finance, localstripe):
    page = login(finance).post(INVOICE, {"quarter": "FY2026-Q4"}, follow=True).content.decode()
    assert "Close FY2026-Q4 first" in page


def test_a_bad_customer_id_is_refused_with_a_message(finance, team):
    page = login(finance).post(
        reverse("budgets:chargeback_customers"),
        {"quarter": "FY2026-Q3", f"customer_{team.cost_center_id}": "acct_" + "x" * 100},
        follow=True,
    )
    assert "starts with cus_" in page.content.decode() and not StripeCustomer.objects.exists()


# --- the webhook --------------------------------------------------------------------------------------


@pytest.fixture
def invoiced(settings, team):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    return StripeInvoice.objects.create(
        quarter="FY2026-Q3", cost_center=team.cost_center, customer_id="cus_x", invoice_id="in_123", status="open"
    )


def event(kind: str, *, invoice: str = "in_123", created: int | None = None, event_id: str = "evt_1") -> bytes:
    body = {"id": event_id, "object": "event", "type": kind, "created": created or int(time.time())}
    body["data"] = {"object": {"id": invoice, "object": "invoice"}}
    return json.dumps(body).encode()


def post(client, payload: bytes, *, secret: str = SECRET, timestamp: int | None = None):
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)
    return client.post(WEBHOOK, payload, content_type="application/json", headers={"Stripe-Signature": header})


@pytest.mark.parametrize(
    ("kind", "status"),
    [("invoice.paid", "paid"), ("invoice.voided", "void"), ("invoice.marked_uncollectible", "uncollectible")],
)
def test_a_signed_event_marks_the_invoice(client, invoiced, kind, status):
    response = post(client, event(kind))
    assert response.status_code == 200
    invoiced.refresh_from_db()
    assert invoiced.status == status
    assert AuditEvent.objects.get(action="stripe.invoice_status").details["status"] == status


def test_a_wrong_signature_is_refused(client, invoiced):
    assert post(client, event("invoice.paid"), secret="whsec_other").status_code == 400
    unsigned = client.post(WEBHOOK, event("invoice.paid"), content_type="application/json")
    assert unsigned.status_code == 400
    invoiced.refresh_from_db()
    assert invoiced.status == "open"


def test_an_old_signature_is_refused(client, invoiced):
    response = post(client, event("invoice.paid"), timestamp=int(time.time()) - 600)
    assert response.status_code == 400 and b"too old" in response.content
    invoiced.refresh_from_db()
    assert invoiced.status == "open"


def test_the_same_signed_request_twice_is_refused(client, invoiced):
    payload = event("invoice.paid")
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)
    first = client.post(WEBHOOK, payload, content_type="application/json", headers={"Stripe-Signature": header})
    again = client.post(WEBHOOK, payload, content_type="application/json", headers={"Stripe-Signature": header})
    assert first.status_code == 200 and again.status_code == 400 and b"already received" in again.content
    assert AuditEvent.objects.filter(action="stripe.invoice_status").count() == 1


def test_an_event_older_than_the_recorded_state_is_ignored(client, invoiced):
    now = int(time.time())
    assert post(client, event("invoice.voided", created=now, event_id="evt_2")).status_code == 200
    stale = post(client, event("invoice.paid", created=now - 60, event_id="evt_1"))
    assert stale.status_code == 200 and b"stale" in stale.content
    invoiced.refresh_from_db()
    assert invoiced.status == "void"


def test_without_a_signing_secret_nothing_is_accepted(client, invoiced, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert post(client, event("invoice.paid")).status_code == 400
