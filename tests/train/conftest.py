"""Training tests need TensorFlow; skip the folder cleanly without it."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip(
    "tensorflow", reason="TensorFlow is not installed (pip install 'masknet-edge[train-cpu]')"
)
