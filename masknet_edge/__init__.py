"""masknet-edge: train MaskNet in Keras, convert it to LiteRT, rank on the device.

The public API, all of it from the device package (:mod:`edge_runtime`): importing it
needs numpy, the FarmHash binding and a TFLite interpreter, never TensorFlow or click. Training
(:mod:`train`), conversion (:mod:`convert`) and the ``masknet`` command
(:mod:`cli`) are imported by their own names.
"""

import importlib
from typing import Any

from masknet_edge.edge_runtime.errors import (
    BehaviourLogError,
    BundleError,
    EncodeError,
    MasknetError,
    MissingDependencyError,
    SignatureError,
    SpecError,
)

#: The public classes, imported on first use (PEP 562): importing one submodule, or the command
#: line's ``--help``, does not pay for numpy, SQLite and the interpreter.
_LAZY = {
    "BehaviourLog": "masknet_edge.edge_runtime.behaviour_log",
    "BundleStore": "masknet_edge.edge_runtime.store",
    "EncodedPart": "masknet_edge.edge_runtime.encoder",
    "FeatureEncoder": "masknet_edge.edge_runtime.encoder",
    "FeatureSpec": "masknet_edge.edge_runtime.spec",
    "Ranker": "masknet_edge.edge_runtime.ranker",
    "TrustedKeys": "masknet_edge.edge_runtime.signing",
}


def __getattr__(name: str) -> Any:
    """``masknet_edge.Ranker`` and the other public classes, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'masknet_edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "BehaviourLog",
    "BehaviourLogError",
    "BundleError",
    "BundleStore",
    "EncodeError",
    "EncodedPart",
    "FeatureEncoder",
    "FeatureSpec",
    "MasknetError",
    "MissingDependencyError",
    "Ranker",
    "SignatureError",
    "SpecError",
    "TrustedKeys",
    "__version__",
]
