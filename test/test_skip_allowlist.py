"""CI's skip allow-list (test/skip_allowlist.py): a real pytest run in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent

CASES = '''
import pytest

def test_runs():
    assert True

def test_gpu():
    pytest.skip("needs a CUDA device (make gpu-check)")

def test_missing_dependency():
    pytest.importorskip("no_such_module_for_the_allowlist_test")
'''


def _pytest(tmp_path: Path, allow: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_cases.py").write_text(CASES)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    env.pop("DASIAMRPN_ALLOWED_SKIPS", None)
    if allow is not None:
        (tmp_path / "allowed.txt").write_text(allow)
        env["DASIAMRPN_ALLOWED_SKIPS"] = str(tmp_path / "allowed.txt")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_allowlist", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_cases.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_skips_are_listed_and_pass_without_an_allow_list(tmp_path):
    res = _pytest(tmp_path, None)
    assert res.returncode == 0, res.stdout
    assert "2 skipped:" in res.stdout and "test_missing_dependency: could not import" in res.stdout


def test_a_skip_not_on_the_allow_list_fails_the_run(tmp_path):
    res = _pytest(tmp_path, "# comment\nneeds a CUDA device | no GPU in CI\n")
    assert res.returncode == 1, res.stdout
    assert "1 skip(s) not on" in res.stdout and "test_missing_dependency" in res.stdout.split("not on")[1]
    assert "test_gpu" not in res.stdout.split("not on")[1]


def test_every_skip_on_the_list_passes(tmp_path):
    res = _pytest(tmp_path, "needs a CUDA device | no GPU\ncould not import 'no_such_module | absent on purpose\n")
    assert res.returncode == 0, res.stdout


def test_an_entry_without_a_reason_is_an_error(tmp_path):
    res = _pytest(tmp_path, "needs a CUDA device\n")
    assert res.returncode != 0 and "has no reason" in res.stdout + res.stderr


def test_the_project_allow_list_names_why(tmp_path):
    from skip_allowlist import allowed_skip_patterns
    entries = allowed_skip_patterns(HERE / "allowed_skips.txt")
    assert [p for p, _ in entries] == ["needs a CUDA device", "launch_ros is not importable"]
    assert all(len(why) > 20 for _, why in entries)
