"""masknet-edge on the device: the feature contract (spec, hash, encoder) and the ranker.

Imports numpy, the FarmHash binding and a TFLite interpreter only; never TensorFlow.
"""

from edge_runtime.behaviour_log import BehaviourLog
from edge_runtime.encoder import EncodedPart, FeatureEncoder
from edge_runtime.errors import (
    BehaviourLogError,
    BundleError,
    EncodeError,
    MasknetError,
    MissingDependencyError,
    SpecError,
)
from edge_runtime.ranker import Ranker
from edge_runtime.spec import FeatureSpec

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
