"""What leaves the fast integer path in a full-integer int8 MaskNet, and what it costs (issue #16).

The MovieLens teacher of the frontier benchmark (SerMaskNet, defaults, seed 0) converted three
ways: full-integer int8, int8 with LayerNorm kept in float (``--keep-float layernorm``, the int8
default of ``masknet convert``) and dynamic. For each model: its operators by the types they run
on, how many of them the XNNPACK delegate takes (the rest run in the interpreter's own kernels),
and the invoke time of 100 test rows, one thread, with XNNPACK and with the interpreter's own
kernels only, all alternated in one process.

Run: .venv/bin/python -m benchmarks.run_all --only int8_path
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import table

#: Its section in ``make bench`` (``run_all --only int8_path``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "int8_path", 41

MODES = {
    "int8 full integer": ("int8", False),
    "int8, LayerNorm float": ("int8", True),
    "dynamic": ("dynamic", False),
}
LAYERNORM_KINDS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT")
ROUNDS = 150


def _census(model: bytes) -> dict[str, Any]:
    """Operators of a model (as converted, before any delegate) by the type they compute in."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=1)
    types = {t["index"]: np.dtype(t["dtype"]).name for t in it.get_tensor_details()}
    ops = it._get_ops_details()  # noqa: SLF001 - the interpreter's only operator listing
    ops = [op for op in ops if op["op_name"] != "DELEGATE"]  # the delegate's nodes, where listed

    def kind(op: dict[str, Any]) -> str:
        ins = {types[i] for i in op["inputs"] if i >= 0} - {"int32", "bool"}  # ids, shapes, masks
        return "int8" if ins == {"int8"} else "float32" if "float32" in ins else "other"

    return {
        "ops": len(ops),
        "int8_ops": sum(kind(op) == "int8" for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")),
        "float_ops": sum(
            kind(op) == "float32" for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
        ),
        "quantize_ops": sum(op["op_name"] in ("QUANTIZE", "DEQUANTIZE") for op in ops),
        "layernorm_ops": dict(
            collections.Counter(
                f"{op['op_name']} {kind(op)}" for op in ops if op["op_name"] in LAYERNORM_KINDS
            )
        ),
    }


def run() -> dict[str, Any] | str:
    """Convert the teacher three ways, list their operators and time them side by side."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tempfile

    import pandas as pd
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from benchmarks.bench_frontier import WORK, teacher_run
    from convert.conversion import LAYERNORM_OPS, convert_run
    from edge_runtime.bundle import read_bundle
    from edge_runtime.encoder import FeatureEncoder
    from edge_runtime.spec import FeatureSpec

    got = teacher_run()
    if isinstance(got, str):
        return got
    teacher, _ = got
    models = {}
    with tempfile.TemporaryDirectory(prefix="masknet-int8-") as tmp:
        for label, (mode, keep) in MODES.items():
            path = Path(tmp) / f"{mode}-{int(keep)}.mnb"
            convert_run(teacher, mode, path, keep_float=LAYERNORM_OPS if keep else (), progress=False)
            models[label] = read_bundle(path).model
    spec = FeatureSpec.load(teacher / "spec.json")
    test = WORK / "splits" / "movielens-100k" / "test.csv"
    x = FeatureEncoder(spec).encode(pd.read_csv(test, dtype={c: str for c in spec.text_columns}).head(100))
    runners = {}
    for label, model in models.items():
        for kernels, resolver in (
            ("XNNPACK", OpResolverType.AUTO),
            ("own kernels", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
        ):
            it = Interpreter(model_content=model, num_threads=1, experimental_op_resolver_type=resolver)
            runners[label, kernels] = it.get_signature_runner("serving_default")
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
    for r in runners.values():
        r(**x)  # warm
    for _ in range(ROUNDS):  # alternated: every model sees the same machine state
        for k, r in runners.items():
            t = time.perf_counter()
            r(**x)
            times[k].append(time.perf_counter() - t)
    return {
        "models": {
            label: {
                **_census(model),
                "invoke_ms": {
                    kern: float(np.median(times[label, kern])) * 1e3 for (lab, kern) in times if lab == label
                },
            }
            for label, model in models.items()
        }
    }


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    models = result["models"]
    dyn = models["dynamic"]["invoke_ms"]["XNNPACK"]
    rows = [
        [
            label,
            m["ops"],
            m["int8_ops"],
            m["float_ops"],
            m["quantize_ops"],
            ", ".join(f"{v} {k}" for k, v in sorted(m["layernorm_ops"].items())) or "none",
            m["invoke_ms"]["XNNPACK"],
            m["invoke_ms"]["XNNPACK"] / dyn,
            m["invoke_ms"]["own kernels"],
        ]
        for label, m in models.items()
    ]
    full, lnf = models["int8 full integer"], models["int8, LayerNorm float"]
    return [
        "## What leaves the integer path (`benchmarks/bench_int8_path.py`)",
        "",
        "The MovieLens teacher of the frontier benchmark converted three ways; its operators by the type they "
        "compute in (ids, shapes and masks aside), and the invoke of 100 test rows, one thread, median of "
        f"{ROUNDS} alternated rounds, with the XNNPACK delegate and with the interpreter's own kernels only.",
        "",
        table(
            [
                "model",
                "operators",
                "int8",
                "float32",
                "(de)quantize",
                "LayerNorm operators",
                "invoke ms (XNNPACK)",
                "/ dynamic",
                "invoke ms (own kernels)",
            ],
            rows,
        ),
        "",
        f"Nothing leaves int8 in the full-integer model ({full['float_ops']} float operators): LayerNorm runs in "
        "int8 too, and that is what costs. Its MEAN, SQUARED_DIFFERENCE and RSQRT in int8 make the model "
        f"{full['invoke_ms']['XNNPACK'] / dyn:.2f}x the dynamic model's invoke, and `RSQRT` in int8 is where "
        "the accuracy goes (the layer table of `masknet check`; README, Quantization guidance). With LayerNorm "
        f"in float ({lnf['quantize_ops']} (de)quantize operators around it) the int8 model runs at "
        f"{lnf['invoke_ms']['XNNPACK'] / dyn:.2f}x. An int8-friendly block (a normalization that folds into the "
        "Dense layer) is not built yet.",
        "",
    ]
