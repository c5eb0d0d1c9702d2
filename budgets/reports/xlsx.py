"""The chargeback as an XLSX workbook: a summary sheet, then one sheet per cost center (and one for unattributed
usage), money in a dollar number format.

openpyxl's write-only mode writes each sheet's rows to a temporary file as they come, so memory stays flat
however many lines there are; the finished workbook (a zip) is then streamed from a temporary file in chunks.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets.reports.chargeback import Line
from budgets.reports.exports import text

MONEY_FORMAT = '"$"#,##0.00'
MONEY_DETAIL_FORMAT = '"$"#,##0.000000'
STREAM_CHUNK = 64 * 1024

LINE_HEADER = [
    "Team",
    "Owner",
    "Build or run",
    "Category",
    "Usage quarter",
    "Provider",
    "Key",
    "Model",
    "Input tokens",
    "Cached input tokens",
    "Cache write tokens",
    "Output tokens",
    "Requests",
    "Cost (USD)",
    "Cost source",
]
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def _title(code: str, taken: set[str]) -> str:
    base = _BAD_TITLE.sub("-", code or "Unattributed")[:28] or "Sheet"
    title, n = base, 2
    while title.lower() in taken:
        title, n = f"{base[:25]}-{n}", n + 1
    taken.add(title.lower())
    return title


def _money_cell(sheet: WriteOnlyWorksheet, value: Decimal, *, detail: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = MONEY_DETAIL_FORMAT if detail else MONEY_FORMAT
    return cell


def _line_row(sheet: WriteOnlyWorksheet, line: Line) -> list:
    return [
        text(line.team_name),
        text(line.owner_label),
        line.kind,
        line.category,
        line.for_quarter,
        line.provider,
        text(line.key_name),
        text(line.model),
        line.input_tokens,
        line.cached_input_tokens,
        line.cache_write_tokens,
        line.output_tokens,
        "n/a" if line.requests is None else line.requests,
        _money_cell(sheet, line.cost_usd, detail=True),
        line.source,
    ]


def _write(workbook: Workbook, lines: Iterable[Line], *, quarter: Quarter) -> None:
    summary = workbook.create_sheet("Summary")
    taken = {"summary"}
    sheets: dict[int | None, tuple[WriteOnlyWorksheet, list]] = {}  # cost center → sheet, its summary row
    for line in lines:
        if (found := sheets.get(line.cost_center_id)) is None:
            sheet = workbook.create_sheet(_title(line.cost_center_code, taken))
            sheet.append(LINE_HEADER)
            found = sheets[line.cost_center_id] = (
                sheet,
                [line.cost_center_code or "Unattributed", line.cost_center_name, ZERO, ZERO, ZERO, ZERO],
            )
        sheet, row = found
        sheet.append(_line_row(sheet, line))
        row[{"build": 2, "run": 3}.get(line.kind, 4)] += line.cost_usd
        row[5] += line.cost_usd
    totals = [row for _, row in sheets.values()]
    summary.append([f"Chargeback {quarter}", f"{quarter.start:%d %b %Y} – {quarter.last_day:%d %b %Y}"])
    summary.append([])
    summary.append(["Cost center", "Name", "Build (USD)", "Run (USD)", "Unattributed (USD)", "Total (USD)"])
    grand = [ZERO, ZERO, ZERO, ZERO]
    for row in totals:
        summary.append([text(row[0]), text(row[1]), *(_money_cell(summary, v) for v in row[2:])])
        grand = [a + b for a, b in zip(grand, row[2:], strict=True)]
    summary.append(["Total", "", *(_money_cell(summary, v) for v in grand)])


def chargeback_xlsx(lines: Iterable[Line], *, quarter: Quarter) -> Iterator[bytes]:
    """The workbook's bytes in chunks (a cost center's sheet takes its lines wherever they come in the stream)."""
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as handle:
        workbook = Workbook(write_only=True)
        _write(workbook, lines, quarter=quarter)
        workbook.save(handle.name)
        handle.seek(0)
        while chunk := handle.read(STREAM_CHUNK):
            yield chunk
