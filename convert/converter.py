"""Keras model -> TFLite flatbuffer, float or quantized, through the SavedModel path.

Modes:

- ``none``: float32.
- ``float16``: float16 weights (half the size, float math).
- ``dynamic``: int8 weights, float activations (dynamic-range quantization).
- ``int8``: full integer kernels, calibrated on a representative sample of the run's training data;
  inputs and outputs stay float32/int32, so the device API is the same for every mode. Ops named in
  ``keep_float`` stay in float (selective quantization via ``QuantizationDebugger``).
- ``int16x8``: int16 activations, int8 weights, where the converter supports the model: its 16x8
  quantizer cannot calibrate the int32 id inputs of these models, so it fails with a clear error.

The result uses builtin ops only (no Select-TF/Flex), so the plain LiteRT interpreter runs it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.convert.modes import QUANT_MODES, QuantMode
from masknet_edge.edge_runtime.atomic import owned_temp_dir
from masknet_edge.edge_runtime.errors import MasknetError
from masknet_edge.edge_runtime.spec import FeatureSpec

log = logging.getLogger("masknet.convert")

__all__ = ["QUANT_MODES", "ConversionResult", "ConvertError", "convert_model", "export_saved_model"]

CALIBRATION_BATCH = 16


class ConvertError(MasknetError):
    """The converter cannot produce a model in the requested mode."""


@dataclass
class ConversionResult:
    """A converted model and what was learned while converting it."""

    tflite: bytes
    mode: str
    float_ops: list[str] = field(default_factory=list)
    layer_errors: list[dict[str, Any]] = field(default_factory=list)
    calibration_rows: int = 0


def export_saved_model(model: Any, spec: FeatureSpec, path: Path) -> None:
    """Export a SavedModel whose ``serving_default`` takes the named inputs (batch ``None``) -> ``ctr``."""
    import keras
    import tensorflow as tf

    signature = {
        i.name: tf.TensorSpec((None, *i.shape), tf.as_dtype(i.dtype), name=i.name)
        for i in spec.input_signature()
    }
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"ctr": model(inputs, training=False)}

    archive.add_endpoint("serving_default", serve, input_signature=[signature])
    archive.write_out(str(path), verbose=False)


def _representative(
    sample: dict[str, np.ndarray], progress: bool, what: str, order: list[str] | None = None
) -> Callable[[], Iterator[Any]]:
    """Calibration batches: dicts by input name, or lists in ``order`` (what the debugger wants)."""
    n = len(next(iter(sample.values())))

    def gen() -> Iterator[Any]:
        from tqdm import tqdm

        # Full batches only: the quantization debugger cannot resize its interpreter between batches.
        steps = range(0, max(n - CALIBRATION_BATCH + 1, 1), CALIBRATION_BATCH)
        for s in tqdm(steps, desc=what, unit="batch", disable=not progress, leave=False):
            batch = {k: v[s : s + CALIBRATION_BATCH] for k, v in sample.items()}
            yield [batch[name] for name in order] if order else batch

    return gen


def _input_order(tflite: bytes) -> list[str]:
    """Input names in the interpreter's positional order (``serving_default_<name>:0``)."""
    from masknet_edge.edge_runtime.interpreter import load_interpreter_class

    _, cls = load_interpreter_class()
    details = cls(model_content=tflite).get_input_details()
    return [d["name"].removeprefix("serving_default_").split(":")[0] for d in details]


def _converter(
    saved_model: Path, mode: QuantMode, rep: Callable[[], Iterator[dict]] | None, per_tensor: bool = False
) -> Any:
    import tensorflow as tf

    c = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if per_tensor:
        # One scale per weight tensor instead of per output channel: FULLY_CONNECTED stays at an op
        # version that older runtimes (tflite-runtime 2.14) know. A private converter flag.
        c._experimental_disable_per_channel_quantization_for_dense_layers = True
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode is QuantMode.FLOAT16:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]
    elif mode is QuantMode.DYNAMIC:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode is QuantMode.INT8:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    elif mode is QuantMode.INT16X8:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    return c


def _layer_errors(debugger: Any, top: int = 25) -> list[dict[str, Any]]:
    """Per-layer error statistics of a quantized model, worst first (RMSE relative to the scale)."""
    import csv

    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    out = []
    for r in rows:
        try:
            scale = float(r.get("scale") or "nan")
            mse = float(r.get("mean_squared_error") or "nan")
            out.append(
                {
                    "op": r.get("op_name", ""),
                    "tensor": r.get("tensor_name", ""),
                    "rmse": float(np.sqrt(mse)),
                    "rmse_per_scale": float(np.sqrt(mse) / scale) if scale > 0 else float("nan"),
                    "max_abs_error": float(r.get("max_abs_error") or "nan"),
                    "scale": scale,
                }
            )
        except ValueError:
            continue
    out.sort(key=lambda e: -e["rmse"] if e["rmse"] == e["rmse"] else 0.0)
    return out[:top]


def convert_model(
    model: Any,
    spec: FeatureSpec,
    mode: QuantMode | str,
    sample: dict[str, np.ndarray] | None = None,
    keep_float: tuple[str, ...] = (),
    progress: bool = True,
    per_tensor: bool = False,
) -> ConversionResult:
    """Convert a Keras model to TFLite in ``mode``.

    Args:
        model: the float Keras model.
        spec: its fitted spec (names and shapes of the inputs).
        mode: one of :data:`QUANT_MODES`.
        sample: encoded representative rows; required for ``int8`` / ``int16x8``.
        keep_float: TFLite op types kept in float in ``int8`` mode (e.g. ``("MEAN", "RSQRT")``).
        progress: show a calibration progress bar on stderr.
        per_tensor: quantize dense weights per tensor rather than per channel, for older runtimes
            (``tflite-runtime`` 2.14 lacks the newer per-channel FULLY_CONNECTED kernels).
    """
    if mode not in QUANT_MODES:
        raise ConvertError(f"Expected a quantization mode in {QUANT_MODES}. Received: {mode!r}")
    mode = QuantMode(mode)
    calibrated = mode.calibrated
    if calibrated and not sample:
        raise ConvertError(f"mode {mode.value!r} needs a representative sample of training rows to calibrate")
    if keep_float and mode is not QuantMode.INT8:
        # (The quantization debugger that keeps ops in float only produces int8 activations.)
        raise ConvertError(f"keep-float ops apply to mode 'int8' only, not {mode.value!r}")
    import tensorflow as tf

    rows = len(next(iter(sample.values()))) if calibrated and sample else 0
    tmp = owned_temp_dir("masknet-savedmodel")  # a killed conversion's is removed by the next one
    with contextlib.ExitStack() as scratch:
        scratch.callback(shutil.rmtree, tmp, True)
        saved = tmp / "saved_model"
        try:
            export_saved_model(model, spec, saved)
        except (OSError, tf.errors.OpError) as exc:  # a full or read-only temporary folder
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ConvertError(
                f"cannot export the model into the temporary folder {tmp.parent} ({first}); free space "
                "there, or point TMPDIR at a folder with room"
            ) from None
        rep = _representative(sample, progress, "calibrating") if calibrated and sample else None
        converter = _converter(saved, mode, rep, per_tensor)
        result = ConversionResult(tflite=b"", mode=mode.value, calibration_rows=rows)
        try:
            with warnings.catch_warnings():
                # The quantization debugger uses tf.lite.Interpreter, which warns that it is deprecated.
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
                if mode is QuantMode.INT8:
                    options = tf.lite.experimental.QuantizationDebugOptions(
                        denylisted_ops=list(keep_float) or None
                    )
                    order = _input_order(_converter(saved, "none", None).convert())
                    debugger = tf.lite.experimental.QuantizationDebugger(
                        converter=converter,
                        debug_dataset=_representative(sample, progress, "measuring layer errors", order),
                        debug_options=options,
                    )
                    debugger.run()
                    result.layer_errors = _layer_errors(debugger)
                    if keep_float:
                        result.tflite = debugger.get_nondebug_quantized_model()
                    else:  # a fresh converter: the debugger changes the one it was given
                        result.tflite = _converter(saved, mode, rep, per_tensor).convert()
                    result.float_ops = sorted(keep_float)
                else:
                    result.tflite = converter.convert()
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:  # converter errors are these
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConvertError(
                f"the TFLite converter cannot produce mode {mode.value!r} for this model: {first}"
            ) from None
    if mode.weights_only:
        result.float_ops = ["activations (float math, quantized weights)"]
    return result
