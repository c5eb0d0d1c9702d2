"""Fiscal quarters. The fiscal year starts in settings.FISCAL_YEAR_START_MONTH and is named after the
calendar year it ends in (a year starting February 2026 is FY2027, as most companies name it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import BadRequest
from django.utils import timezone

_NAME = re.compile(r"^FY(\d{4})-Q([1-4])$")
# Fiscal years a quarter may name: far wider than any budget, and narrow enough that the start of the quarter
# after the last one is still a date (FY9999-Q4 would end in the year 10000).
FIRST_YEAR, LAST_YEAR = 1970, 9000


@dataclass(frozen=True, order=True)
class Quarter:
    fiscal_year: int
    number: int  # 1..4

    @classmethod
    def start_month(cls) -> int:
        return settings.FISCAL_YEAR_START_MONTH

    @classmethod
    def containing(cls, day: date | datetime) -> Quarter:
        if isinstance(day, datetime):
            day = day.astimezone(UTC).date()
        offset = (day.month - cls.start_month()) % 12  # months since the fiscal year began
        fy_start_year = day.year if day.month >= cls.start_month() else day.year - 1
        fiscal_year = fy_start_year + (1 if cls.start_month() != 1 else 0)
        return cls(fiscal_year, offset // 3 + 1)

    @classmethod
    def current(cls) -> Quarter:
        return cls.containing(timezone.now())

    @classmethod
    def parse(cls, name: str) -> Quarter:
        match = _NAME.match(name.strip().upper())
        if not match:
            raise ValueError(f"Not a quarter name: {name!r} (expected e.g. FY2027-Q1)")
        year = int(match.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"{name.strip()} is out of range: quarters run from FY{FIRST_YEAR} to FY{LAST_YEAR}.")
        return cls(year, int(match.group(2)))

    @classmethod
    def from_param(cls, raw: str | None) -> Quarter:
        """The quarter a page was asked for (`?quarter=FY2027-Q1`): the current one if none; 400 if not a quarter."""
        if not raw or not raw.strip():
            return cls.current()
        try:
            return cls.parse(raw)
        except ValueError as error:
            raise BadRequest(str(error)) from error

    def __str__(self) -> str:
        return f"FY{self.fiscal_year}-Q{self.number}"

    @property
    def name(self) -> str:
        return str(self)

    @property
    def start(self) -> date:
        fy_start_year = self.fiscal_year - (1 if self.start_month() != 1 else 0)
        month0 = self.start_month() - 1 + (self.number - 1) * 3
        return date(fy_start_year + month0 // 12, month0 % 12 + 1, 1)

    @property
    def end(self) -> date:
        """Exclusive end: the first day of the next quarter."""
        return self.next().start

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def next(self) -> Quarter:
        return Quarter(self.fiscal_year + 1, 1) if self.number == 4 else Quarter(self.fiscal_year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.fiscal_year - 1, 4) if self.number == 1 else Quarter(self.fiscal_year, self.number - 1)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end
