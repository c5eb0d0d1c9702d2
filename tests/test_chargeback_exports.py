"""Chargeback exports: CSV, FOCUS 1.3 and XLSX stream, carry the page's totals to the cent, quote formula-like
text, pass FOCUS's column checks, and are audit events; `manage.py export_chargeback` writes the same files."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEvent
from budgets.reports.chargeback import chargeback_lines, chargeback_summary
from budgets.reports.focus import COLUMNS, MANDATORY
from tests.budget_factories import spend
from tests.chargeback_helpers import (
    FIRST_DAY_OF_Q4,
    Q4,
    add_usage,
    cents,
    csv_rows,
    early_q4,  # noqa: F401
    keys,  # noqa: F401
    openai_account,  # noqa: F401
    streamed,
    sync,
)
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_q4")]
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def export(client, fmt: str, quarter: str = "FY2026-Q4"):
    response = client.get(reverse("budgets:chargeback_export", args=[fmt]), {"quarter": quarter})
    assert response.status_code == 200
    return response


@pytest.fixture
def usage(openai_emulator, openai_account, keys, simulated, team, outsider, other_team):  # noqa: F811
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_erin")
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_rank", tokens=300_000)
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_unknown", tokens=70_000)
    sync(openai_account)
    sneaky = ProjectFactory(team=other_team, name="=HYPERLINK(1)", slug="sneaky", kind="run")
    spend(KeyFactory(account=simulated, owner_project=sneaky, owner_user=None, team=other_team), "12.345678")
    return chargeback_summary(chargeback_lines(quarter=Q4), quarter=Q4).totals


def test_csv_streams_and_adds_up_to_the_page_total(usage, finance):
    client = login(finance)
    rows = csv_rows(export(client, "csv"))
    total = sum(Decimal(row["cost_usd"]) for row in rows)
    assert total == usage.total_usd
    page = client.get(reverse("budgets:chargeback")).content.decode()
    assert f'data-total="{cents(total)}"' in page
    assert {row["build_or_run"] for row in rows} == {"build", "run", "unattributed"}
    assert {row["requests"] for row in rows if row["provider"] == "simulated"} == {"n/a"}
    assert "'=HYPERLINK(1)" in {row["project"] for row in rows}  # quoted: never a formula


def test_focus_has_every_mandatory_column_with_allowed_values(usage, finance):
    rows = csv_rows(export(login(finance), "focus"))
    assert rows and set(MANDATORY) <= set(rows[0]) and list(rows[0]) == COLUMNS
    for name in ("ServiceProviderName", "HostProviderName", "ProviderName", "PublisherName", "ServiceSubcategory"):
        assert name in rows[0]
    assert all(name.startswith("x_") for name in COLUMNS[COLUMNS.index("Tags") + 1 :])
    for row in rows:
        for money in ("BilledCost", "ContractedCost", "EffectiveCost", "ListCost"):
            Decimal(row[money])  # a decimal, never empty
        for moment in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
            assert ISO_UTC.match(row[moment]), row[moment]
        assert row["BillingPeriodStart"] == "2026-10-01T00:00:00Z" and row["BillingPeriodEnd"] == "2027-01-01T00:00:00Z"
        assert row["BillingCurrency"] == "USD" and re.fullmatch(r"[A-Z]{3}", row["BillingCurrency"])
        assert row["ChargeCategory"] in {"Usage", "Adjustment"} and row["ChargeClass"] in {"", "Correction"}
        assert row["ServiceCategory"] == "AI and Machine Learning" and row["ServiceSubcategory"] == "Generative AI"
        assert row["PricingUnit"] == row["ConsumedUnit"] == "Tokens"
        assert int(row["PricingQuantity"]) == int(row["ConsumedQuantity"]) >= 0
        for name in ("BillingAccountId", "ChargeDescription", "InvoiceIssuerName", "ServiceName", "ProviderName"):
            assert row[name], name
        tags = json.loads(row["Tags"])
        assert tags["build_or_run"] in {"build", "run", "unattributed"}
        if row["ResourceId"]:
            assert row["ResourceName"] and row["SkuId"]
    assert sum(Decimal(row["BilledCost"]) for row in rows) == usage.total_usd
    openai_rows = [row for row in rows if row["x_CostSource"] == "estimated" and "OpenAI" in row["ServiceProviderName"]]
    assert openai_rows and {row["SkuId"] for row in openai_rows} == {"gpt-4o-mini-2024-07-18"}


def test_xlsx_has_a_summary_and_a_sheet_per_cost_center_with_money_formats(usage, finance, cost_center):
    workbook = openpyxl.load_workbook(io.BytesIO(streamed(export(login(finance), "xlsx"))))
    assert workbook.sheetnames[0] == "Summary" and {"RND", "PROD", "Unattributed"} <= set(workbook.sheetnames)
    summary = workbook["Summary"]
    total_row = next(row for row in summary.iter_rows() if row[0].value == "Total")
    assert cents(Decimal(str(total_row[5].value))) == cents(usage.total_usd)
    assert "$" in total_row[5].number_format
    lines = list(workbook["RND"].iter_rows(min_row=2, values_only=True))
    assert cents(sum(Decimal(str(row[13])) for row in lines)) == cents(
        usage.build_usd + usage.run_usd - Decimal("12.345678")
    )
    assert workbook["RND"]["N2"].number_format.startswith('"$"')


def test_every_export_is_an_audit_event(usage, finance):
    client = login(finance)
    for fmt in ("csv", "focus", "xlsx"):
        streamed(export(client, fmt))
    events = AuditEvent.objects.filter(action="chargeback.exported", actor=finance)
    assert sorted(e.details["format"] for e in events) == ["csv", "focus", "xlsx"]
    assert {e.details["quarter"] for e in events} == {"FY2026-Q4"}


def test_the_command_writes_the_same_files(usage, tmp_path):
    for fmt in ("csv", "focus", "xlsx"):
        out = tmp_path / f"out.{fmt}"
        call_command("export_chargeback", "--quarter", "FY2026-Q4", "--format", fmt, "-o", str(out))
    text = (tmp_path / "out.csv").read_text()
    assert text.startswith("quarter,usage_quarter,category")
    total = sum(Decimal(line.rsplit(",", 2)[1]) for line in text.splitlines()[1:])
    assert total == usage.total_usd
    assert (tmp_path / "out.focus").read_text().startswith("BilledCost,")
    assert openpyxl.load_workbook(tmp_path / "out.xlsx").sheetnames[0] == "Summary"
    assert AuditEvent.objects.filter(action="chargeback.exported", actor=None, details__via="command").count() == 3


def test_the_command_refuses_a_bad_quarter():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not a quarter"):
        call_command("export_chargeback", "--quarter", "FY27")
