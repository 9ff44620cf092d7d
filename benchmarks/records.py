"""Benchmark records: one row per figure, with its goal, and the run's machine and settings."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from newsdesk.evaluation.metrics import percentile


@dataclass
class Row:
    """One measured figure as it appears in the table."""

    benchmark: str  # which of the six benchmarks
    measure: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Latency:
    """Summary of a list of per-request times in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float

    @classmethod
    def of(cls, milliseconds: Sequence[float]) -> "Latency":
        return cls(len(milliseconds), percentile(milliseconds, 50), percentile(milliseconds, 95),
                   percentile(milliseconds, 99), statistics.fmean(milliseconds))


@dataclass
class Machine:
    cores: int
    cpu_model: str
    python: str
    load_average_at_start: tuple[float, float, float]

    @classmethod
    def this_one(cls) -> "Machine":
        return cls(os.cpu_count() or 0, cpu_model(), platform.python_version(), os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass
class Run:
    command: str
    corpus: str
    articles: int
    passages: int = 0
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    machine: Machine = field(default_factory=Machine.this_one)
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # raw timings per stage, for the JSON only

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)
        for row in rows:
            print(format_row(row), flush=True)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = self.started.replace(":", "").replace("+0000", "Z")
        path = folder / f"bench-{stamp}-{self.articles}.json"
        path.write_text(json.dumps(asdict(self), indent=1, default=str))
        return path


def verdict(row: Row) -> str:
    return {True: "met", False: "NOT met", None: ""}[row.met]


def format_row(row: Row) -> str:
    return (f"{row.benchmark:<11} {row.measure:<52} {_number(row.value):>10} {row.unit:<12} "
            f"{row.goal:<16} {verdict(row):<8} {row.note}").rstrip()


def table(rows: Sequence[Row]) -> str:
    header = f"{'benchmark':<11} {'measure':<52} {'value':>10} {'unit':<12} {'goal':<16} {'':<8} note"
    return "\n".join([header, "-" * len(header)] + [format_row(r) for r in rows])


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| benchmark | measure | value | goal | |", "|---|---|---|---|---|"]
    for r in rows:
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.benchmark} | {r.measure}{note} | {_number(r.value)} {r.unit} | "
                     f"{r.goal} | {verdict(r)} |")
    return "\n".join(lines)


def _number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
