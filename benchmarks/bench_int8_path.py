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


def _variant_run(spec_path: Path) -> Path:
    """The same SerMaskNet with BatchNorm blocks and no LN-EMB (no LayerNorm left), trained once."""
    from benchmarks.bench_frontier import WORK, train_movielens
    from masknet_edge.train.config import ModelConfig

    run = WORK / "int8-variant"
    if not (run / "metrics.json").is_file():
        folder = WORK / "splits" / "movielens-100k"
        train_movielens(folder, run, spec_path, ModelConfig(block_norm="batch", ln_emb=False))
    return run


def run() -> dict[str, Any] | str:
    """Convert the teacher and the BatchNorm variant, list their operators, score and time them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tempfile

    import pandas as pd
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from benchmarks.bench_frontier import WORK, teacher_run
    from masknet_edge.convert.conversion import LAYERNORM_OPS, convert_run
    from masknet_edge.edge_runtime.bundle import read_bundle
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.metrics import auc, topk_overlap

    got = teacher_run()
    if isinstance(got, str):
        return got
    teacher, _ = got
    runs = {"teacher (paper)": teacher, "BatchNorm variant": _variant_run(teacher / "spec.json")}
    models = {}
    with tempfile.TemporaryDirectory(prefix="masknet-int8-") as tmp:
        for name, run_dir in runs.items():
            for label, (mode, keep) in MODES.items():
                if name != "teacher (paper)" and keep:
                    continue  # the variant has no LayerNorm to keep in float
                path = Path(tmp) / f"{len(models)}.mnb"
                convert_run(run_dir, mode, path, keep_float=LAYERNORM_OPS if keep else (), progress=False)
                models[name, label] = read_bundle(path).model
    spec = FeatureSpec.load(teacher / "spec.json")
    test = pd.read_csv(
        WORK / "splits" / "movielens-100k" / "test.csv", dtype={c: str for c in spec.text_columns}
    )
    x_all = FeatureEncoder(spec).encode(test)
    labels = test["label"].to_numpy(dtype=np.float64)
    x = {k: v[:100] for k, v in x_all.items()}
    runners, scores = {}, {}
    for key, model in models.items():
        for kernels, resolver in (
            ("XNNPACK", OpResolverType.AUTO),
            ("own kernels", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
        ):
            it = Interpreter(model_content=model, num_threads=1, experimental_op_resolver_type=resolver)
            runners[(*key, kernels)] = it.get_signature_runner("serving_default")
        r = runners[(*key, "XNNPACK")]
        n = len(labels)
        scores[key] = np.concatenate(
            [
                next(iter(r(**{k: v[s : s + 1024] for k, v in x_all.items()}).values())).ravel()
                for s in range(0, n, 1024)
            ]
        )
    times: dict[tuple[str, ...], list[float]] = {k: [] for k in runners}
    for r in runners.values():
        r(**x)  # warm
    for _ in range(ROUNDS):  # alternated: every model sees the same machine state
        for k, r in runners.items():
            t = time.perf_counter()
            r(**x)
            times[k].append(time.perf_counter() - t)
    out = {}
    for (name, label), model in models.items():
        ref = scores[name, "dynamic"]  # each model's own float-math reference
        slates = [slice(s, s + 100) for s in range(0, len(labels) - 99, 100)]
        out[f"{name}: {label}"] = {
            **_census(model),
            "test_auc": auc(labels, scores[name, label]),
            "top10_overlap_with_dynamic": float(
                np.mean([topk_overlap(ref[s], scores[name, label][s], 10) for s in slates])
            ),
            "invoke_ms": {
                kern: float(np.median(times[name, label, kern])) * 1e3 for kern in ("XNNPACK", "own kernels")
            },
        }
    return {"models": out}


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    models = result["models"]
    dyn = models["teacher (paper): dynamic"]["invoke_ms"]["XNNPACK"]
    rows = [
        [
            label,
            m["ops"],
            m["int8_ops"],
            m["float_ops"],
            m["quantize_ops"],
            ", ".join(f"{v} {k}" for k, v in sorted(m["layernorm_ops"].items())) or "none",
            m["test_auc"],
            m["top10_overlap_with_dynamic"],
            m["invoke_ms"]["XNNPACK"],
            m["invoke_ms"]["XNNPACK"] / dyn,
            m["invoke_ms"]["own kernels"],
        ]
        for label, m in models.items()
    ]
    full, lnf = models["teacher (paper): int8 full integer"], models["teacher (paper): int8, LayerNorm float"]
    var, var_dyn = models["BatchNorm variant: int8 full integer"], models["BatchNorm variant: dynamic"]
    return [
        "## What leaves the integer path (`benchmarks/bench_int8_path.py`)",
        "",
        "The MovieLens teacher of the frontier benchmark (the paper's SerMaskNet), and the same model with "
        "BatchNorm in its blocks and no LN-EMB (`--block-norm batch --no-ln-emb`, seed 0: a variant, not the "
        "paper's MaskNet), each converted the ways that apply. Operators by the type they compute in (ids, "
        "shapes and masks aside); test AUC on the whole test split; top-10 overlap with the same model's "
        "dynamic bundle per slate of 100 test rows; invoke of 100 test rows, one thread, median of "
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
                "test AUC",
                "top-10 overlap",
                "invoke ms (XNNPACK)",
                "/ teacher dynamic",
                "invoke ms (own kernels)",
            ],
            rows,
        ),
        "",
        f"Nothing leaves int8 in the paper model's full-integer form ({full['float_ops']} float operators): "
        "LayerNorm runs in int8 too (MEAN, SQUARED_DIFFERENCE, RSQRT), and that is what costs: "
        f"{full['invoke_ms']['XNNPACK'] / dyn:.2f}x the dynamic invoke against {lnf['invoke_ms']['XNNPACK'] / dyn:.2f}x "
        f"with LayerNorm in float, and a test AUC of {full['test_auc']:.4f} against {lnf['test_auc']:.4f}. The "
        f"BatchNorm variant in full-integer int8 runs at {var['invoke_ms']['XNNPACK'] / dyn:.2f}x with a test "
        f"AUC of {var['test_auc']:.4f} ({var_dyn['test_auc']:.4f} in its dynamic form).",
        "",
    ]
