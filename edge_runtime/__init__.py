"""masknet-edge on the device: the feature contract (spec, hash, encoder) and the ranker.

Imports numpy, the FarmHash binding and a TFLite interpreter only; never TensorFlow.
"""

from edge_runtime.encoder import EncodedPart, FeatureEncoder
from edge_runtime.errors import BundleError, EncodeError, MasknetError, MissingDependencyError, SpecError
from edge_runtime.ranker import Ranker
from edge_runtime.spec import FeatureSpec

__version__ = "0.1.0"

__all__ = [
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
