"""`make stress` ends with one table of what the long checks did (for docs/reliability.md), and
keeps the rows behind it in benchmarks/results/stress-<time>.json, so the published table can be
traced to a run."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

RESULTS_FOLDER = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def pytest_terminal_summary(terminalreporter):
    from reliability_support import RESULTS

    if not RESULTS.rows:
        return
    terminalreporter.section("reliability summary")
    terminalreporter.write_line(RESULTS.table())
    if RESULTS.hostile:
        terminalreporter.write_line("")
        terminalreporter.write_line("hostile inputs tried:")
        terminalreporter.write_line(RESULTS.hostile_table())
    now = datetime.now(timezone.utc)
    RESULTS_FOLDER.mkdir(parents=True, exist_ok=True)
    path = RESULTS_FOLDER / f"stress-{now:%Y-%m-%dT%H%M%SZ}.json"
    path.write_text(json.dumps({
        "command": "make stress", "finished": now.isoformat(timespec="seconds"),
        "rows": [asdict(row) for row in RESULTS.rows],
        "hostile": [{"input": h.what, "outcome": h.outcome} for h in RESULTS.hostile],
    }, indent=1) + "\n")
    terminalreporter.write_line(f"rows kept in {path}")
