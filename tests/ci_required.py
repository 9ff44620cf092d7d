"""Under CI (CI=true) a browser or Ray test that would skip fails instead (a pytest plugin).

On a developer's machine those tests skip with a reason when Debian's chromium, Playwright or the
ray extra is missing; CI installs all of them, so a skip there means a check silently did not
run. tests/conftest.py loads this plugin; tests/test_ci_required.py runs it on tests of its own.
"""

from __future__ import annotations

import os

import pytest

REQUIRED_MARKERS = ("browser", "ray")
# The short Ray checks run in `make test`, which deselects the `ray` marker (the long check), so
# they carry no marker of their own: their module says what they are.
REQUIRED_MODULES = ("test_browser.py", "test_ray.py")


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def required_in_ci(item: pytest.Item) -> bool:
    return (any(item.get_closest_marker(name) for name in REQUIRED_MARKERS)
            or item.path.name in REQUIRED_MODULES)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and under_ci() and required_in_ci(item):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"{reason.removeprefix('Skipped: ')}\n(under CI, CI=true, a browser or Ray "
                           "test must run: its skip is a failure)")
    return report
