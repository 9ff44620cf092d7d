"""Under CI (CI=true), a browser or Ray test that would skip fails instead (tests/ci_required.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

MARKED = '''
import pytest

@pytest.fixture
def chromium():
    pytest.skip("no chromium here")

@pytest.mark.browser
def test_browser_without_chromium(chromium):
    pass

@pytest.mark.ray
def test_ray_without_the_cluster():
    pytest.skip("no cluster")

@pytest.mark.browser
def test_browser_that_runs():
    pass

@pytest.mark.browser
@pytest.mark.xfail(reason="known")
def test_browser_expected_to_fail():
    assert False

def test_ordinary_skip():
    pytest.skip("not needed here")
'''
# The short Ray checks carry no marker (make test deselects `ray`): their module names them.
UNMARKED_RAY = '''
import pytest

def test_short_ray_check():
    pytest.importorskip("a_module_that_is_not_installed")
'''


def run_inner_suite(tmp_path: Path, ci: str | None) -> str:
    """The short summary (pytest -rA) of the tests above, run with the plugin and CI as given."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    browser: b\n    ray: r\n")
    (tmp_path / "test_marked.py").write_text(MARKED)
    (tmp_path / "test_ray.py").write_text(UNMARKED_RAY)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_required", "-p", "no:cacheprovider",
                           "-rA", "-q", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.stdout[done.stdout.index("short test summary info"):]


def test_under_ci_a_browser_or_ray_test_that_would_skip_fails(tmp_path):
    summary = run_inner_suite(tmp_path, ci="true")
    assert "ERROR test_marked.py::test_browser_without_chromium - no chromium here" in summary  # its fixture skipped
    assert "FAILED test_marked.py::test_ray_without_the_cluster - no cluster" in summary
    assert "FAILED test_ray.py::test_short_ray_check - could not import" in summary
    assert "a browser or Ray test must run" in summary
    # Tests that run, expected failures and ordinary tests' skips are left as they are.
    assert "PASSED test_marked.py::test_browser_that_runs" in summary
    assert "XFAIL test_marked.py::test_browser_expected_to_fail" in summary
    assert re.search(r"SKIPPED \[1\] test_marked.py:\d+: not needed here", summary)
    assert summary.rstrip().splitlines()[-1].startswith("2 failed, 1 passed, 1 skipped, 1 xfailed, 1 error")


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_they_skip_with_their_reason(tmp_path, ci):
    summary = run_inner_suite(tmp_path, ci=ci)
    assert "no chromium here" in summary and "no cluster" in summary and "could not import" in summary
    assert "FAILED" not in summary and "ERROR" not in summary
    assert summary.rstrip().splitlines()[-1].startswith("1 passed, 4 skipped, 1 xfailed")
