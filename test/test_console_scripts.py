"""Every program is a console script (setup.py): each entry resolves to an importable callable and
answers ``--help`` with exit 0, and every module that can run as a program is one of them."""
from __future__ import annotations

import ast
import importlib
import importlib.metadata
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import REPO
from test_structure import project_modules

HELP_TIMEOUT_S = 180     # torch and rclpy imports on a loaded 2-core machine
HELP_PARALLEL = 4


def setup_console_scripts() -> dict[str, str]:
    """name -> "module:function", as setup.py's entry_points lists them."""
    for node in ast.walk(ast.parse((REPO / "setup.py").read_text())):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = ast.literal_eval(value)
                    return {n.strip(): t.strip() for n, _, t in (e.partition("=") for e in entries)}
    raise AssertionError("setup.py has no console_scripts")


def test_every_console_script_resolves_to_a_callable():
    scripts = setup_console_scripts()
    # `ros2 run dasiamrpn_ros <name>` names: *_node, and `web` (issue 32 names it so)
    assert len(scripts) >= 20 and all(name.startswith("dasiamrpn-") or name.endswith("_node") or name == "web"
                                      for name in scripts)
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function, None)), f"{name} -> {target}"


def test_the_installed_console_scripts_are_setup_pys():
    """A stale install (setup.py changed, `make setup` not re-run) would start old programs."""
    installed = {e.name: e.value for e in importlib.metadata.distribution("dasiamrpn_ros").entry_points
                 if e.group == "console_scripts"}
    assert installed == setup_console_scripts()


def test_every_module_that_runs_as_a_program_is_a_console_script():
    """No program hidden behind ``python -m`` or a script path (dev tools live outside the packages:
    ros_interfaces/build.py, ros_interfaces/crossprocess_check.py, test/mutation_report.py)."""
    targets = {t.partition(":")[0] for t in setup_console_scripts().values()}
    runnable = {name for name, path in project_modules().items() if "__main__" in path.read_text()
                and any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)
                        for n in ast.parse(path.read_text()).body)}
    assert runnable - targets == set()


def _help(name: str, target: str, env: dict[str, str]) -> tuple[str, int, str]:
    script = Path(sys.executable).parent / name
    module, _, function = target.partition(":")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", f"import sys; from {module} import {function} as f; sys.argv[0] = {name!r}; "
                              "sys.exit(f())"]
    res = subprocess.run(command + ["--help"], env=env, capture_output=True, text=True, timeout=HELP_TIMEOUT_S,
                         stdin=subprocess.DEVNULL)
    return name, res.returncode, res.stdout + res.stderr


def test_every_console_script_answers_help():
    """``--help`` of every program (one per target; the ``ros2 run`` aliases share theirs) exits 0 with
    argparse's usage, before any ROS graph starts (localhost discovery and an own domain all the same)."""
    from dasiamrpn_ros.testing import DomainLease
    by_target = {}
    for name, target in setup_console_scripts().items():
        by_target.setdefault(target, name)
    with DomainLease() as lease:
        env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(lease.domain_id)}
        with ThreadPoolExecutor(HELP_PARALLEL) as pool:
            results = list(pool.map(lambda item: _help(item[1], item[0], env), by_target.items()))
    failed = {name: out[-1500:] for name, rc, out in results if rc != 0 or f"usage: {name}" not in out}
    assert failed == {}
