"""The ``numeric`` field kind: a number, its fitted transform, and what a missing value becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from masknet_edge.edge_runtime.field_checks import (
    NUMERIC_TRANSFORMS,
    Side,
    check_bool,
    check_name,
    check_number,
    check_side,
    spec_error,
)

__all__ = ["NumericField"]


@dataclass(frozen=True)
class NumericField:
    """A number, transformed with statistics fitted on the training data.

    Args:
        name: the column name in raw records.
        side: ``"context"`` or ``"item"``.
        transform: one of ``standardize`` (``(x - mean) / std``), ``log1p_standardize``
            (``(log1p(max(x, 0)) - mean) / std``, mean/std in log space), ``minmax``
            (``(x - min) / (max - min)`` clipped to [0, 1]), ``bucketize`` (bucket ``i`` holds
            ``boundaries[i-1] <= x < boundaries[i]``; the field becomes categorical) or ``none``.
            Defaults to ``standardize``.
        default: raw value used when missing; None uses the training mean (for ``bucketize``:
            the missing id). Defaults to None.
        required: when true a missing value is an error. Defaults to False.
        boundaries: bucket boundaries for ``bucketize``, strictly increasing; fitted as quantiles
            when None.
        num_bins: bins to fit when ``boundaries`` is None. Defaults to 10.
        mean, std, min, max: fitted statistics (set by fitting; see ``masknet_edge.train.fit``).
        clip: transformed values are clipped to ``[-clip, clip]`` so float32 stays finite.
            Defaults to 1e6.
        source: the raw column to read, when it differs from ``name`` (e.g. ``age_bucket`` bucketizes
            the column ``age`` that the field ``age`` standardizes). Defaults to None (``name``).
    """

    name: str
    side: Side
    transform: str = "standardize"
    default: float | None = None
    required: bool = False
    boundaries: tuple[float, ...] | None = None
    num_bins: int = 10
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    clip: float = 1e6
    source: str | None = None
    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.source is not None and (not isinstance(self.source, str) or not self.source):
            raise spec_error(self.name, f"source must be a column name. Received: source={self.source!r}")
        check_side(self.name, self.side)
        if self.transform not in NUMERIC_TRANSFORMS:
            raise spec_error(
                self.name,
                f"transform must be one of {NUMERIC_TRANSFORMS}. Received: transform={self.transform!r}",
            )
        check_bool(self.name, "required", self.required)
        for key in ("default", "mean", "std", "min", "max"):
            check_number(self.name, key, getattr(self, key))
        check_number(self.name, "clip", self.clip, optional=False)
        if self.clip <= 0:
            raise spec_error(self.name, f"clip must be > 0. Received: clip={self.clip!r}")
        if self.std is not None and self.std <= 0:
            raise spec_error(self.name, f"std must be > 0. Received: std={self.std!r}")
        if isinstance(self.num_bins, bool) or not isinstance(self.num_bins, int) or self.num_bins < 2:
            raise spec_error(
                self.name, f"num_bins must be an integer >= 2. Received: num_bins={self.num_bins!r}"
            )
        if self.boundaries is not None:
            b = tuple(self.boundaries)
            object.__setattr__(self, "boundaries", b)
            if not b:
                raise spec_error(self.name, "boundaries must not be empty")
            for v in b:
                check_number(self.name, "boundaries", v, optional=False)
            if any(b[i] >= b[i + 1] for i in range(len(b) - 1)):
                raise spec_error(self.name, f"boundaries must be strictly increasing. Received: {list(b)}")
        if self.transform != "bucketize" and self.boundaries is not None:
            raise spec_error(
                self.name, f"boundaries only apply to transform='bucketize', not {self.transform!r}"
            )

    @property
    def column(self) -> str:
        """The raw column this field reads."""
        return self.source or self.name

    #: Numbers are read as numbers, not as texts.
    reads_text: ClassVar[bool] = False

    @property
    def model_input(self) -> str:
        """``ids`` when bucketized (one ``cat_ids`` column), else ``values`` (one ``num_values``)."""
        return "ids" if self.is_bucketized else "values"

    @property
    def is_bucketized(self) -> bool:
        """True when the field is encoded as a categorical bucket index."""
        return self.transform == "bucketize"

    @property
    def is_fitted(self) -> bool:
        """True when every statistic the transform needs is present."""
        if self.transform == "bucketize":
            return self.boundaries is not None
        if self.transform in ("standardize", "log1p_standardize"):
            return self.mean is not None and self.std is not None
        if self.transform == "minmax":
            return self.min is not None and self.max is not None and self.mean is not None
        return True

    @property
    def vocab_size(self) -> int:
        """Ids of a bucketized field (bins plus the missing id); 0 when not bucketized."""
        if not self.is_bucketized:
            return 0
        if self.boundaries is None:
            raise spec_error(self.name, "bucketize boundaries are not fitted yet")
        return len(self.boundaries) + 2

    def edge_values(self) -> list[Any]:
        """Values that exercise this field's rules in the conformance vectors (JSON-native, valid):
        each boundary and beyond both ends when bucketized, else values around the fitted mean,
        padded texts, a boolean and a missing spelling."""
        if self.is_bucketized:
            b = list(self.boundaries or ())
            return [*b, b[0] - 1.0, b[-1] + 1.0, (b[0] + b[-1]) / 2, str(b[0]), f" {b[-1]} "]
        mean, std = self.mean or 0.0, self.std or 1.0
        return [mean, mean + 2 * std, mean - std, 0, f"{mean:.3f}", f" {mean + std:.2f} ", True, " NA "]
