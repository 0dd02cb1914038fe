"""The quantization modes a bundle can be converted in, and what each one implies."""

from __future__ import annotations

from enum import Enum

__all__ = ["QUANT_MODES", "QuantMode"]


class QuantMode(str, Enum):
    """A quantization mode; its value is the name the CLI and the bundle manifest use.

    >>> QuantMode("int8").calibrated, QuantMode.DYNAMIC.weights_only, QuantMode.NONE == "none"
    (True, True, True)
    """

    NONE = "none"  # float32 throughout
    FLOAT16 = "float16"  # weights stored as float16, math in float32
    DYNAMIC = "dynamic"  # int8 weights, activations quantized per batch at run time
    INT8 = "int8"  # int8 weights and activations, calibrated on training rows
    INT16X8 = "int16x8"  # int8 weights, int16 activations, calibrated

    @property
    def calibrated(self) -> bool:
        """Whether converting needs a representative sample of training rows."""
        return self in (QuantMode.INT8, QuantMode.INT16X8)

    @property
    def weights_only(self) -> bool:
        """Whether only the weights are quantized (the activations' math stays in float)."""
        return self in (QuantMode.DYNAMIC, QuantMode.FLOAT16)

    @property
    def golden_tolerance(self) -> float:
        """How far a device's scores may be from the bundle's golden scores (see GOLDEN_TOLERANCE's
        reasons in :mod:`convert.bundle_writer`)."""
        return _TOLERANCE[self]


#: Float modes allow float rounding; int8 scores come out in steps of 1/256 and LiteRT 2.3 and
#: tflite-runtime 2.14 were seen up to 4 steps apart (one golden record of 146 of the shop model), so
#: int8 allows 5 steps. Dynamic range quantization: the two runtimes were 2.06e-3 apart on one record
#: of 146 (shop model, per-tensor weights) on an Intel Xeon with AVX-512 VNNI, within 2e-3 on an AMD
#: EPYC with AVX2, so dynamic allows 5e-3.
_TOLERANCE = {
    QuantMode.NONE: 1e-5,
    QuantMode.FLOAT16: 1e-4,
    QuantMode.DYNAMIC: 5e-3,
    QuantMode.INT8: 5 / 256,
    QuantMode.INT16X8: 5e-3,
}

#: The modes' names, in the order the CLI lists them.
QUANT_MODES = tuple(m.value for m in QuantMode)
