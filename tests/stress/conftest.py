"""`make stress` ends with one table of what the long checks did (for docs/reliability.md)."""

from __future__ import annotations


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
