"""The project's structure, checked: lint clean, no import cycle, a core without ROS."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# import name -> folder (the training/ and benchmarks/ folders install as dasiamrpn_training and
# dasiamrpn_benchmarks, setup.py)
PACKAGES = {"dasiamrpn_core": "dasiamrpn_core", "dasiamrpn_ros": "dasiamrpn_ros", "dasiamrpn_training": "training",
            "dasiamrpn_benchmarks": "benchmarks"}
ROS_MODULES = ("rclpy", "rosidl", "sensor_msgs", "std_msgs", "geometry_msgs", "vision_msgs", "cv_bridge",
               "diagnostic_msgs", "rcl_interfaces", "builtin_interfaces", "launch", "launch_ros")


def project_modules() -> dict[str, Path]:
    mods = {}
    for package, folder in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [package, *path.relative_to(REPO / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def imports_of(name: str, path: Path, modules: dict[str, Path] | None = None) -> list[str]:
    """Every module ``path`` imports, at the top or inside a function, as absolute names; ``from pkg
    import x`` is ``pkg.x`` when that is one of ``modules``, else ``pkg``."""
    modules = modules or {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.extend(f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    mods = project_modules()
    return {name: {t for t in imports_of(name, path, mods) if t in mods and t != name} for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_anywhere_in_the_project():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    graph = {"a.trainer": {"a.tune"}, "a.tune": {"a.validation", "a.trainer"}, "a.validation": set()}
    assert cycles(graph) == [["a.trainer", "a.tune"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_the_core_imports_no_ros():
    offenders = [(name, target) for name, path in project_modules().items() if name.startswith("dasiamrpn_core")
                 for target in imports_of(name, path) if target.split(".")[0] in ROS_MODULES]
    assert offenders == []


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (make setup installs requirements.txt)"
    res = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:]


def test_the_shared_data_folder_comes_from_the_environment_or_an_option(monkeypatch, tmp_path):
    from dasiamrpn_core.files import SHARED_ENV, require_shared, shared_root
    monkeypatch.delenv(SHARED_ENV, raising=False)
    assert shared_root() is None
    import pytest
    with pytest.raises(ValueError, match="pass --root or set DASIAMRPN_SHARED"):
        require_shared("data", "sequences")
    assert require_shared("data", option=tmp_path) == tmp_path / "data"
    monkeypatch.setenv(SHARED_ENV, str(tmp_path))
    assert shared_root() == tmp_path and shared_root("/elsewhere") == Path("/elsewhere")
    # no library module guesses it from where it is installed
    guessing = [str(p.relative_to(REPO)) for folder in PACKAGES.values() for p in (REPO / folder).rglob("*.py")
                if "__file__" in (text := p.read_text()) and '"shared"' in text]
    assert guessing == []


def test_the_training_package_installs_under_the_projects_name(tmp_path):
    """The training/ folder is `dasiamrpn_training` once installed: importable from anywhere, and no
    top-level `training` package (which would collide with any other project's) is installed."""
    code = ("import importlib.util, dasiamrpn_training.config as c; print(c.__name__); "
            "print(importlib.util.find_spec('training'))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["dasiamrpn_training.config", "None"]
