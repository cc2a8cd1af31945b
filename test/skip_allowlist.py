"""A pytest plugin: every run lists its skips; with ``DASIAMRPN_ALLOWED_SKIPS=<file>`` (CI sets it) a
skip whose reason matches no entry of that allow-list fails the run, so a missing dependency cannot
turn tests into silent skips. Loaded by ``test/conftest.py``."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ENV = "DASIAMRPN_ALLOWED_SKIPS"
_SKIPS: list[tuple[str, str]] = []


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def allowed_skip_patterns(path: Path) -> list[tuple[str, str]]:
    """(pattern, why) of each entry of an allow-list file (``pattern | why``; # comments)."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, _, why = line.partition(" | ")
            if not why.strip():
                raise ValueError(f"{path}: entry {line!r} has no reason (pattern | why)")
            entries.append((pattern.strip(), why.strip()))
    return entries


def unexpected_skips(skips: list[tuple[str, str]], allowed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(nodeid, reason) for nodeid, reason in skips
            if not any(re.search(pattern, reason) for pattern, _ in allowed)]


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPS.append((report.nodeid, _skip_reason(report)))


def pytest_sessionfinish(session, exitstatus):
    allow_file = os.environ.get(ENV)
    if not allow_file:
        return
    bad = unexpected_skips(_SKIPS, allowed_skip_patterns(Path(allow_file)))
    session.config._dasiamrpn_unexpected_skips = bad
    if bad and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _SKIPS:
        return
    terminalreporter.write_line(f"{len(_SKIPS)} skipped:")
    for nodeid, reason in _SKIPS:
        terminalreporter.write_line(f"  {nodeid}: {reason}")
    bad = getattr(config, "_dasiamrpn_unexpected_skips", [])
    if bad:
        terminalreporter.write_line(f"FAILED: {len(bad)} skip(s) not on {os.environ[ENV]}:",
                                    red=True, bold=True)
        for nodeid, reason in bad:
            terminalreporter.write_line(f"  {nodeid}: {reason}", red=True)
