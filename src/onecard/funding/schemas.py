"""The funding API's types (/api/v1/funding): runs, their inputs, imports, bank files.

Contract: every input forbids unknown fields; money is integer fen; a quarter is
``2026Q1``. ``run_out(result)`` is a money run's ``RunResult`` as the API answers it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

QUARTER = r"^20[0-9]{2}Q[1-4]$"


class RunOut(BaseModel):
    action: str
    scope: str
    dry_run: bool
    changed: bool
    totals: dict[str, int]
    lines: list[dict[str, Any]]
    problems: list[str]
    notes: list[str] = []


def run_out(res: Any) -> RunOut:
    return RunOut(**res.as_dict())


REGION = Field(
    default=None,
    min_length=1,
    max_length=12,
    description="the code of the fund region the run is for (a region that keeps its own "
    "dining fund); leave out for the top region",
)


class QuarterRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(pattern=QUARTER, examples=["2026Q1"])
    dry_run: StrictBool = False
    region: str | None = REGION


OVERRIDE = Field(
    default=None,
    min_length=1,
    max_length=200,
    description="a real emergency only: run although the calendar says not yet; the reason "
    "is recorded in the audit trail (who, when, why)",
)


class SettlementRun(QuarterRun):
    override_calendar: str | None = OVERRIDE


class DistributionRun(QuarterRun):
    unit_id: StrictInt | None = Field(default=None, description="leave out for every unit")
    override_calendar: str | None = OVERRIDE


class DayRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    dry_run: StrictBool = False
    region: str | None = REGION


class DryRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: StrictBool = False


class RegionDryRun(DryRun):
    region: str | None = REGION


class RegionFundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(min_length=1, max_length=12, description="the region's code")
    own: StrictBool = Field(
        default=True,
        description="true: the region keeps its own dining fund; false: it shares the fund "
        "of the region above it again",
    )


class YearRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: StrictInt = Field(ge=2000, le=2100)
    dry_run: StrictBool = False
    region: str | None = REGION
    override_calendar: str | None = OVERRIDE


class LeaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    left_on: date | None = None


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_score: StrictInt = Field(ge=0, le=100)
    share_bp: StrictInt = Field(ge=0, le=10000, description="10000 = 100 % paid")


class QualityRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bands: list[Band] = Field(min_length=1, max_length=20)


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: StrictInt = Field(ge=0, le=100)


class ReconcileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: StrictInt


class StatementImportOut(BaseModel):
    name: str
    lines: int
    new_lines: int
    changed: bool
    settled: int
    problems: list[str]
    receipts: list[RunOut]
    days: list[RunOut]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["transfers", "collections"] = "transfers"
    format: Literal["xlsx", "csv"] = "xlsx"
