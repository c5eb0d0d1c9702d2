"""The chargeback CSV, and the cell rules every export shares; FOCUS 1.3 CSV is budgets.reports.focus, XLSX
budgets.reports.xlsx, the entry point budgets.reports.downloads. Each is a generator of chunks, so responses stream
in constant memory.

Money is written with all six decimal places the usage is kept in, so a sum over a file equals the page's
total to the cent; requests Anthropic does not report stay "n/a". Text cells that a spreadsheet would run as a
formula are quoted, as the audit log export does (numbers are written as numbers, never quoted).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from accounts.audit import FORMULA_STARTS
from budgets.reports.chargeback import Line
from budgets.reports.models import Source

_FORMULA_FIRST = frozenset(FORMULA_STARTS)  # each is one character: a set lookup is the fast test

CHARGEBACK_COLUMNS = [
    "quarter",
    "usage_quarter",
    "category",
    "cost_center_code",
    "cost_center_name",
    "team",
    "project",
    "person",
    "build_or_run",
    "provider",
    "account",
    "key",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "cost_usd",
    "cost_source",
]

# Rows are written this many at a time: fewer, larger chunks for the server, still constant memory.
CHUNK_ROWS = 500


class Echo:
    """csv.writer writes to this; each row comes back as a string to stream."""

    def write(self, value: str) -> str:
        return value


def text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value and value[0] in _FORMULA_FIRST else value


def money(value: Decimal) -> str:
    return f"{value:.6f}"


_SOURCES = frozenset(Source.values)


def source_label(source: str) -> str:
    return source if source in _SOURCES else Source.UNKNOWN.value


def chargeback_csv(lines: Iterable[Line], *, quarter: str) -> Iterator[str]:
    """The chargeback lines as CSV, one row per line, header first.

    A million lines name a few thousand people, keys and teams and a few dozen models, so each text cell is made
    safe once per distinct value (`safe`), and rows go to csv.writer CHUNK_ROWS at a time (`writerows`)."""
    buffer = _Buffer()
    writer = csv.writer(buffer)
    writer.writerow(CHARGEBACK_COLUMNS)
    safe: dict[str, str] = {}

    def cell(value: str) -> str:
        try:
            return safe[value]
        except KeyError:
            result = safe[value] = text(value)
            return result

    rows: list[list] = []
    for line in lines:
        rows.append(
            [
                quarter,
                line.for_quarter,
                line.category,
                cell(line.cost_center_code),
                cell(line.cost_center_name),
                cell(line.team_name),
                cell(line.project_name),
                cell(line.user_name),
                line.kind,
                line.provider,
                cell(line.account_name),
                cell(line.key_name),
                cell(line.model),
                line.input_tokens,
                line.cached_input_tokens,
                line.cache_write_tokens,
                line.output_tokens,
                "n/a" if line.requests is None else line.requests,
                money(line.cost_usd),
                source_label(line.source),
            ]
        )
        if len(rows) >= CHUNK_ROWS:
            writer.writerows(rows)
            yield buffer.take()
            rows.clear()
    if rows:
        writer.writerows(rows)
    yield buffer.take()


class _Buffer:
    """What csv.writer writes to: collects the text of a chunk of rows until it is taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, value: str) -> None:
        self.parts.append(value)

    def take(self) -> str:
        chunk, self.parts = "".join(self.parts), []
        return chunk
