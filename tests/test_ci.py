"""CI cannot pass without the report's browser tests: ``.ci/browser`` finds or installs
Chromium or stops CI with one line, and under ``AEKIT_REQUIRE_BROWSER=1`` (which
``.ci/run`` sets after it) a missing browser fails those tests instead of skipping them.

Each case runs with a PATH of one temporary folder holding stand-ins for the
programs (``/bin/sh`` scripts), so the machine's own Chromium and apt-get are out of
sight and nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash")
CHMOD = shutil.which("chmod")


def program(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def browser_step(folder: Path) -> subprocess.CompletedProcess:
    """``.ci/browser`` with ``folder`` as the whole PATH."""
    return subprocess.run(
        [BASH, str(ROOT / ".ci" / "browser")],
        env={"PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_ci_stops_in_one_line_when_chromium_cannot_be_installed(tmp_path):
    done = browser_step(tmp_path)  # no browser, no apt-get
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "no chromium or chromedriver on PATH and no apt-get" in done.stderr

    fail = 'echo "E: Could not open lock file (are you root?)" >&2; exit 100'
    program(tmp_path, "apt-get", f'[ "$1" = update ] && exit 0; echo Reading... ; {fail}')
    done = browser_step(tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stdout == ""
    assert done.stderr == (
        ".ci/browser: apt-get install chromium chromium-driver failed: E: Could not open "
        "lock file (are you root?) (the report's browser tests need them)\n"
    )

    program(tmp_path, "apt-get")  # "succeeds" but installs nothing
    done = browser_step(tmp_path)
    assert done.returncode == 1 and "but they are not on PATH" in done.stderr


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_ci_finds_or_installs_chromium_and_its_driver(tmp_path):
    log = tmp_path / "apt.log"
    installs = "".join(
        f"printf '#!/bin/sh\\n' > {tmp_path}/{name}; {CHMOD} +x {tmp_path}/{name}; "
        for name in ("chromium", "chromedriver")
    )
    program(tmp_path, "apt-get", f'echo "$@" >> {log}; [ "$1" = update ] || {{ {installs}}}')
    done = browser_step(tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "install -y -qq chromium chromium-driver" in log.read_text()
    log.unlink()
    done = browser_step(tmp_path)  # found: apt-get is not asked again
    assert done.returncode == 0 and not log.exists()


def browser_tests(path: Path, **env: str) -> subprocess.CompletedProcess:
    """The browser tests, run by pytest with ``path`` as the whole PATH."""
    tests = ROOT / "tests" / "runs" / "test_report_browser.py"
    argv = [sys.executable, "-m", "pytest", "-n0", "-p", "no:cacheprovider", "-q", "-rs"]
    return subprocess.run(
        [*argv, str(tests)],
        env={**os.environ, "PATH": str(path), "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_without_chromium_the_browser_tests_skip_locally_and_fail_in_ci(tmp_path, monkeypatch):
    pytest.importorskip("selenium", reason="the browser tests' skip message names selenium too")
    monkeypatch.delenv("AEKIT_REQUIRE_BROWSER", raising=False)
    done = browser_tests(tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "3 skipped" in done.stdout and "no chromium or chromedriver" in done.stdout
    done = browser_tests(tmp_path, AEKIT_REQUIRE_BROWSER="1")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "3 errors" in done.stdout and "skipped" not in done.stdout
    assert "AEKIT_REQUIRE_BROWSER=1 but no chromium or chromedriver" in done.stdout


def test_ci_runs_the_browser_step_and_requires_the_browser_before_the_tests():
    """The wiring itself: ``.ci/run`` calls ``.ci/browser`` (under ``set -e``) and
    exports ``AEKIT_REQUIRE_BROWSER=1`` before it runs pytest."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "set -euo pipefail" in lines
    tests = next(i for i, line in enumerate(lines) if line.endswith("pytest"))
    assert lines.index(".ci/browser") < tests
    assert lines.index("export AEKIT_REQUIRE_BROWSER=1") < tests
