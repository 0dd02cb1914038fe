"""Ranking and calibration metrics in numpy: AUC, logloss, rank correlations, top-k overlap, NDCG."""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "kendall_tau", "logloss", "ndcg_at_k", "spearman", "topk_overlap"]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(sx)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(x)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted as half). NaN if one class is absent."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    r = _ranks(s)
    return float((r[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def logloss(labels: np.ndarray, scores: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, scores clipped to ``[eps, 1 - eps]``."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(scores, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN with fewer than two values (nothing to correlate)."""
    if np.size(a) < 2:
        return float("nan")
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 1.0 if np.array_equal(ra, rb) else float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b (scipy's implementation, O(n log n)); NaN with fewer than two values."""
    from scipy.stats import kendalltau

    a, b = np.ravel(a), np.ravel(b)
    if len(a) < 2:
        return float("nan")
    if np.array_equal(a, b):
        return 1.0
    return float(kendalltau(a, b).statistic)


def topk_overlap(reference: np.ndarray, other: np.ndarray, k: int) -> float:
    """|top-k(reference) ∩ top-k(other)| / k' with k' = min(k, n); ties broken by index."""
    reference, other = np.ravel(reference), np.ravel(other)
    kk = min(k, len(reference))
    if kk == 0:
        return float("nan")
    top_ref = set(np.argsort(-reference, kind="stable")[:kk].tolist())
    top_oth = set(np.argsort(-other, kind="stable")[:kk].tolist())
    return len(top_ref & top_oth) / kk


def ndcg_at_k(reference: np.ndarray, other: np.ndarray, k: int) -> float:
    """NDCG@k of the ranking by ``other``, with gains = the reference's rank-based relevance.

    The relevance of an item is ``n - rank_ref`` (the reference's best item is the most relevant),
    so 1.0 means ``other`` orders its top k exactly like the reference.
    """
    reference, other = np.ravel(reference), np.ravel(other)
    n = len(reference)
    kk = min(k, n)
    if kk == 0:
        return float("nan")
    rel = np.empty(n)
    rel[np.argsort(-reference, kind="stable")] = np.arange(n, 0, -1)
    discounts = 1.0 / np.log2(np.arange(2, kk + 2))
    gains = 2.0 ** (rel / n) - 1.0
    dcg = float((gains[np.argsort(-other, kind="stable")[:kk]] * discounts).sum())
    ideal = float((np.sort(gains)[::-1][:kk] * discounts).sum())
    return dcg / ideal if ideal > 0 else float("nan")
