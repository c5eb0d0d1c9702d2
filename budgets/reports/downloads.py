"""One entry point for the three export formats, shared by the page's download buttons, `export_chargeback` and
`bench export`: what to call the file, its content type, its chunks, and the audit event every export writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from accounts.models import AuditEvent, User
from allocator.quarters import Quarter
from budgets.reports.chargeback import chargeback_lines
from budgets.reports.exports import chargeback_csv
from budgets.reports.focus import focus_csv
from budgets.reports.xlsx import chargeback_xlsx

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "focus": ("text/csv; charset=utf-8", "focus.csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


@dataclass
class Export:
    content_type: str
    filename: str
    chunks: Iterator[str] | Iterator[bytes]


def export_chunks(fmt: str, lines: Iterable, *, quarter: Quarter) -> Iterator[str] | Iterator[bytes]:
    if fmt == "csv":
        return chargeback_csv(lines, quarter=quarter.name)
    if fmt == "focus":
        return focus_csv(lines, quarter=quarter)
    return chargeback_xlsx(lines, quarter=quarter)


def chargeback_export(
    *, fmt: str, quarter: Quarter, by: User | None, team_ids: Iterable[int] | None = None, via: str = "web"
) -> Export:
    """The quarter's chargeback in `fmt` ("csv", "focus" or "xlsx"), narrowed to `team_ids` when given; audited."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    team_ids = sorted(team_ids) if team_ids is not None else None
    content_type, extension = FORMATS[fmt]
    AuditEvent.record(
        "chargeback.exported",
        actor=by,
        quarter=quarter.name,
        format=fmt,
        teams="all" if team_ids is None else team_ids,
        via=via,
    )
    lines = chargeback_lines(quarter=quarter, team_ids=team_ids)
    return Export(content_type, f"chargeback-{quarter}.{extension}", export_chunks(fmt, lines, quarter=quarter))
