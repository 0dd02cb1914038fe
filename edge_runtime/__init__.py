"""masknet-edge on the device: the feature contract (spec, hash, encoder) and the ranker.

Imports numpy, the FarmHash binding and a TFLite interpreter only; never TensorFlow.
"""

import importlib
from typing import Any

from edge_runtime.errors import (
    BehaviourLogError,
    BundleError,
    EncodeError,
    MasknetError,
    MissingDependencyError,
    SpecError,
)

#: The public classes, imported on first use (PEP 562): importing one submodule, or the command
#: line's ``--help``, does not pay for numpy, SQLite and the interpreter.
_LAZY = {
    "BehaviourLog": "edge_runtime.behaviour_log",
    "EncodedPart": "edge_runtime.encoder",
    "FeatureEncoder": "edge_runtime.encoder",
    "FeatureSpec": "edge_runtime.spec",
    "Ranker": "edge_runtime.ranker",
}


def __getattr__(name: str) -> Any:
    """``edge_runtime.Ranker`` and the other public classes, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "BehaviourLog",
    "BehaviourLogError",
    "BundleError",
    "EncodeError",
    "EncodedPart",
    "FeatureEncoder",
    "FeatureSpec",
    "MasknetError",
    "MissingDependencyError",
    "Ranker",
    "SpecError",
    "__version__",
]
