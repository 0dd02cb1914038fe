"""Shared fixtures: paths to the real data beside the project, skipped when absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
HAS_TF = importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real CTR data; skips the test when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


needs_tf = pytest.mark.skipif(
    not HAS_TF, reason="TensorFlow is not installed (pip install 'masknet-edge[train-cpu]')"
)
