"""Finance downloads every export the finance pages link (the chargeback in each format, the leaderboard, the
audit log) in the browser; each is the file type it says, with rows."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from openpyxl import load_workbook

from allocator.quarters import Quarter
from allocator.usage.summaries import summaries_rebuild
from tests.budget_factories import simulated_key, spend, team_budget
from tests.e2e.conftest import E2E_MARKS

pytestmark = E2E_MARKS

PAGES = ["/budgets/chargeback/", "/budgets/leaderboard/", "/accounts/audit/"]
# Every download link of those pages: the file's name ({q} is the quarter), and a text each file must hold.
EXPECTED = {
    r"chargeback-{q}\.csv": "Search",
    r"chargeback-{q}\.focus\.csv": "BilledCost",
    r"chargeback-{q}\.xlsx": "Search",
    r"leaderboard-people-{q}\.csv": "Erin Engineer",
    r"allocator-audit-\d{{8}}-\d{{6}}\.csv": "chargeback.exported",  # the exports above were audited
}


def _rows(path, filename):
    if filename.endswith(".xlsx"):
        content = path.read_bytes()
        assert content[:2] == b"PK", f"{filename} is not a workbook"
        workbook = load_workbook(io.BytesIO(content), read_only=True)
        return [[str(cell) for cell in row] for sheet in workbook for row in sheet.iter_rows(values_only=True)]
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_finance_downloads_every_export(flow, finance, engineer, team, simulated):
    team_budget(team, "2000")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="search-evals")
    today = timezone.now().date()
    for days_ago in range(3):
        spend(key, Decimal("12.50"), day=today - timedelta(days=days_ago), summarise=False)
    summaries_rebuild(quarter=Quarter.current())
    quarter = Quarter.current().name

    page = flow.sign_in(finance.email)
    files = {}
    for path in PAGES:
        page.goto(f"{flow.url}{path}")
        links = page.locator("a[download]")
        assert links.count(), f"no download link on {path}"
        for index in range(links.count()):
            with page.expect_download() as info:
                links.nth(index).click()
            download = info.value
            assert download.failure() is None, download.failure()
            files[download.suggested_filename] = download.path()

    patterns = {re.compile(pattern.format(q=quarter)): text for pattern, text in EXPECTED.items()}
    named = {pattern: [name for name in files if pattern.fullmatch(name)] for pattern in patterns}
    assert all(len(names) == 1 for names in named.values()) and len(files) == len(patterns), sorted(files)
    for pattern, text in patterns.items():
        filename = named[pattern][0]
        rows = _rows(files[filename], filename)
        assert len(rows) >= 2, f"{filename}: {rows}"  # a header and at least one line
        assert any(text in cell for row in rows[1:] + rows[:1] for cell in row), f"{filename} lacks {text!r}"
    assert flow.errors == []
