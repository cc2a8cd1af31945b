"""Shared test fixtures: where ../shared lives, and official-format weights made from it."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DASIAMRPN_SHARED", REPO.parent / "shared"))
# the CLIs the tests start read the shared folder from this variable only
os.environ.setdefault("DASIAMRPN_SHARED", str(SHARED))
SEQUENCES = SHARED / "data" / "sequences"
REFERENCE = SHARED / "reference"


def require_shared(*parts: str) -> Path:
    """Path inside ../shared, or skip the test with the reason (a user's clone has no ../shared)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the project; set DASIAMRPN_SHARED)")
    return path


def _make_weights_module():
    script = require_shared("reference", "make_weights.py")
    spec = importlib.util.spec_from_file_location("make_weights", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def official_weights(tmp_path_factory):
    """Factory: official-format DaSiamRPN weights (deterministic, from ../shared/reference)."""
    cache: dict[tuple[str, int], Path] = {}
    directory = tmp_path_factory.mktemp("official_weights")

    def make(net: str, seed: int = 2) -> Path:
        key = (net, seed)
        if key not in cache:
            import torch
            module = _make_weights_module()
            path = directory / f"SiamRPN{net.upper()}_seed{seed}.model"
            torch.save(module.make_state_dict(net, seed), path)
            cache[key] = path
        return cache[key]

    return make


@pytest.fixture(scope="session")
def model_path(official_weights):
    """A real checkpoint for behaviour tests: the bundled model when this checkout has it, else
    the deterministic official-format SiamRPNvot weights made from ../shared/reference."""
    from dasiamrpn_core import DEFAULT_CHECKPOINT
    if DEFAULT_CHECKPOINT.exists():
        return DEFAULT_CHECKPOINT
    return official_weights("vot")


@pytest.fixture(scope="session")
def demo_seq():
    from dasiamrpn_core.demo_sequence import make_sequence
    return make_sequence("demo", num_frames=40)


# skips are counted in every run and checked against test/allowed_skips.txt in CI
from skip_allowlist import (pytest_runtest_logreport, pytest_sessionfinish,  # noqa: E402,F401
                            pytest_terminal_summary)
