"""What a ranker proves about its model when it loads a bundle, checks on every score, and the report
of a bundle's golden records (:meth:`~edge_runtime.ranker.Ranker.verify`).

The embedding table has exactly the rows the spec's ids address, the model has one probability
output per row, and scores are finite probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.bundle import Bundle
from masknet_edge.edge_runtime.errors import BundleError, EncodeError
from masknet_edge.edge_runtime.interpreter import ModelRunner
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["VerifyReport", "check_output", "check_scores", "check_table"]


@dataclass(frozen=True)
class VerifyReport:
    """Result of running a bundle's golden vectors."""

    ok: bool
    records: int
    encode_mismatches: list[str]
    max_score_diff: float
    tolerance: float

    def __str__(self) -> str:
        status = "OK" if self.ok else "FAILED"
        lines = [
            f"{status}: {self.records} golden records, max |score diff| {self.max_score_diff:.3g} "
            f"(tolerance {self.tolerance:g})"
        ]
        lines += [f"  encoding mismatch: {m}" for m in self.encode_mismatches]
        return "\n".join(lines)


def _id_probe(spec: FeatureSpec, overflow: bool) -> dict[str, np.ndarray]:
    """One encoded row holding every field's largest id, or (``overflow``) one id past the table."""
    sizes, offsets = spec.vocab_sizes(), spec.vocab_offsets()
    inputs: dict[str, np.ndarray] = {}
    for sig in spec.input_signature():
        inputs[sig.name] = np.zeros((1, *sig.shape), dtype=sig.dtype)
    if spec.id_fields:
        inputs["cat_ids"][0] = [offsets[f.name] + sizes[f.name] - 1 for f in spec.id_fields]
    for f in spec.multi_fields:
        inputs[f"{f.name}_ids"][0] = offsets[f.name] + sizes[f.name] - 1
        inputs[f"{f.name}_mask"][0] = 1.0
    if overflow:
        first = "cat_ids" if spec.id_fields else f"{spec.multi_fields[0].name}_ids"
        inputs[first][0, 0] = spec.total_vocab
    return inputs


def check_table(runner: ModelRunner, bundle: Bundle) -> None:
    """Prove that the model's embedding table has exactly the rows the spec's ids address.

    Every id the encoder can emit must exist in the table (else the interpreter fails mid-request
    with "gather index out of bounds"), and the table must not be larger than the spec says (else
    the ids would silently address other rows: a spec that does not belong to the model).
    """
    spec = bundle.spec
    if not spec.id_fields and not spec.multi_fields:
        return
    try:
        runner(_id_probe(spec, overflow=True))
    except (RuntimeError, ValueError):
        pass  # the id one past the spec's table is out of bounds: the table is no larger than the spec
    else:
        raise BundleError(
            f"{bundle.path}: the model's embedding table has more than the spec's {spec.total_vocab} rows; "
            "the spec does not belong to this model (reconvert the bundle from its run directory)"
        )
    try:
        score = runner(_id_probe(spec, overflow=False))
    except (RuntimeError, ValueError) as exc:
        raise BundleError(
            f"{bundle.path}: the spec's ids (vocabularies and buckets, {spec.total_vocab} rows) do not fit "
            f"the model's embedding table ({exc}); reconvert the bundle from its run directory"
        ) from None
    check_scores(score, bundle.path)


def check_output(runner: ModelRunner, bundle: Bundle) -> None:
    """The model has one output, a probability per row (``[batch, 1]``), as the manifest says."""
    shapes = list(runner.output_shapes.values())
    if len(shapes) != 1 or len(shapes[0]) not in (1, 2) or shapes[0][1:] not in ([], [1]):
        raise BundleError(
            f"{bundle.path}: the model's outputs have shapes {shapes}; a ranking model has one output "
            "of shape [batch, 1] (a click probability per candidate)"
        )
    declared = bundle.manifest.outputs
    if isinstance(declared, list) and len(declared) != 1:
        raise BundleError(f"{bundle.path}: the manifest declares {len(declared)} outputs; a bundle has one")


def check_scores(scores: np.ndarray, where: Any) -> None:
    """Scores are probabilities: finite and in [0, 1] (a model that outputs logits is refused)."""
    if not np.isfinite(scores).all():
        raise EncodeError("the model produced non-finite scores; the inputs are out of the trained range")
    if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
        raise BundleError(
            f"{where}: the model produced scores outside [0, 1] ({scores.min():.4g} .. {scores.max():.4g}): "
            "it does not end in a sigmoid (logits?); convert a model whose output is a probability"
        )
