"""Where the tests find the published annotation files, and that a run can never skip them silently.

Each case runs a small test file in-process with our hooks (tests/conftest.py) against a benchmark folder that is
there or not, with and without ``CTI_IR_REQUIRE_BENCHMARKS`` (what ``.ci/run`` sets).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest as conftest

pytest_plugins = ["pytester"]

HOOKS = ("from tests.conftest import (pytest_configure, pytest_runtest_makereport, pytest_runtest_setup,  # noqa\n"
         "                            pytest_terminal_summary)\n")
TESTS = '''
import pytest
from tests.conftest import needs_real_benchmarks

@needs_real_benchmarks("fashioniq")
def test_reads_fashioniq():
    pass

@needs_real_benchmarks("shoes")
def test_skips_by_itself():
    pytest.skip("a reason of its own")

def test_needs_no_files():
    pass
'''


@pytest.fixture
def run_with(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    pytester.makeconftest(HOOKS)
    pytester.makepyfile(test_inner=TESTS)

    def run(present: bool, required: bool) -> pytest.RunResult:
        folder = tmp_path / ("benchmarks" if present else "nowhere")
        if present:
            for name in ("fashioniq", "shoes"):
                (folder / name).mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(conftest, "REAL_BENCHMARKS", folder)
        if required:
            monkeypatch.setenv(conftest.REQUIRE_ENV, "1")
        else:
            monkeypatch.delenv(conftest.REQUIRE_ENV, raising=False)
        return pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider", "-p", "no:randomly")

    return run


def test_files_found_the_tests_run(run_with):
    result = run_with(present=True, required=False)
    result.assert_outcomes(passed=2, skipped=1)  # only the test that skips itself
    result.stdout.fnmatch_lines(["*1 tests that need the published annotation files were skipped*"])


def test_files_missing_the_tests_skip_and_the_run_says_so(run_with, tmp_path):
    result = run_with(present=False, required=False)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*2 tests that need the published annotation files were skipped*",
                                 f"*published annotation files not found: {tmp_path / 'nowhere' / 'fashioniq'}*"
                                 "CTI_IR_BENCHMARKS*"])


def test_when_required_a_skip_is_a_failure(run_with):
    # Files there: a test that needs them may not skip by itself either.
    result = run_with(present=True, required=True)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_skips_by_itself needs the published annotation files and was skipped "
                                 "(*a reason of its own)*may not be skipped*"])
    # Files missing: each test that needs them fails (before its fixtures run), the others pass.
    result = run_with(present=False, required=True)
    result.assert_outcomes(passed=1, errors=2)
    assert "may not be skipped" in result.stdout.str() and "skipped" not in result.parseoutcomes()


def test_the_folder_is_found_beside_the_repository_or_where_the_variable_says(monkeypatch, tmp_path):
    monkeypatch.delenv("CTI_IR_BENCHMARKS", raising=False)
    repo = Path(conftest.__file__).resolve().parents[1]
    assert conftest.find_real_benchmarks() == repo.parent / "shared" / "benchmarks"
    monkeypatch.setenv("CTI_IR_BENCHMARKS", str(tmp_path / "elsewhere"))
    assert conftest.find_real_benchmarks() == tmp_path / "elsewhere"
