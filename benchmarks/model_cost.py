"""What each part of a behaviour spec costs the device's model, timed side by side (issue #28).

    python -m benchmarks.model_cost SPEC.json [--variants static,proposed,mean,no-histories,k25]

SPEC is a fitted behaviour spec (a run directory's ``spec.json``, e.g. of ``bench_sequence``'s
proposed MovieLens spec). Each variant is built as SerMaskNet with the default sizes and random
weights (the time of an invoke does not depend on the weights), converted to a float TFLite model,
and invoked with 100 candidates, all variants alternated in one process, 300 rounds; the medians:

- ``static``: the spec without its behaviour fields;
- ``proposed``: the spec as it is;
- ``mean``: the attended histories mean-pooled instead (what the attention itself costs);
- ``no-histories``: without the attended histories (what they cost as fields);
- ``kN``: the attended histories cut to their last N ids.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

CANDIDATES, ROUNDS = 100, 300


def variant(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The spec dict of one variant."""
    d = copy.deepcopy(spec)
    attended = {f["name"] for f in d["fields"] if f.get("pooling") == "attention"}
    behaviour = {f["name"] for f in d.get("behaviour", {}).get("features", [])}
    if name == "static":
        d.pop("behaviour", None)
        d["fields"] = [f for f in d["fields"] if f["name"] not in behaviour]
    elif name == "mean":
        for f in d["fields"]:
            if f["name"] in attended:
                f["pooling"] = "mean"
    elif name == "no-histories":
        d["fields"] = [f for f in d["fields"] if f["name"] not in attended]
        d["behaviour"]["features"] = [f for f in d["behaviour"]["features"] if f["name"] not in attended]
    elif name.startswith("k") and name[1:].isdigit():
        for f in d["fields"]:
            if f["name"] in attended:
                f["max_length"] = int(name[1:])
        for f in d["behaviour"]["features"]:
            if f["name"] in attended:
                f["k"] = int(name[1:])
    elif name != "proposed":
        raise SystemExit(f"unknown variant {name!r}")
    return d


def time_variants(spec_path: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Fields and median invoke milliseconds of each variant, alternated."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.convert.converter import convert_model
    from masknet_edge.edge_runtime.interpreter import ModelRunner
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.masknet import build_model

    base = json.loads(spec_path.read_text())
    rng = np.random.default_rng(0)
    runners, inputs = {}, {}
    for name in names:
        spec = FeatureSpec.from_dict(variant(base, name))
        runners[name] = (
            ModelRunner(convert_model(build_model(spec), spec, "none", progress=False).tflite, 1),
            spec,
        )
        inputs[name] = {
            i.name: np.zeros((CANDIDATES, *i.shape), i.dtype)
            if np.dtype(i.dtype).kind in "iu"
            else rng.random((CANDIDATES, *i.shape)).astype(i.dtype)
            for i in spec.input_signature()
        }
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(ROUNDS):
        for name in names:
            start = time.perf_counter()
            runners[name][0](inputs[name])
            times[name].append(time.perf_counter() - start)
    return {
        n: {"fields": len(runners[n][1].fields), "invoke_ms": 1e3 * float(np.median(times[n]))} for n in names
    }


def main() -> None:
    """Command line: print one line per variant, with its ratio to the first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--variants", default="static,proposed,mean,no-histories,k25")
    args = parser.parse_args()
    names = args.variants.split(",")
    got = time_variants(args.spec, names)
    first = got[names[0]]["invoke_ms"]
    for name in names:
        fields, ms = got[name]["fields"], got[name]["invoke_ms"]
        print(f"{name:>14s}: {fields:2d} fields, invoke {ms:.3f} ms, {ms / first:.2f}x")


if __name__ == "__main__":
    main()
