"""Ranking and calibration metrics: AUC, logloss, rank correlations, top-k overlap, NDCG.

Ranks and rank correlations come from scipy (a training dependency), imported inside the functions
so that importing this module (and the training pipeline) stays fast.
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "kendall_tau", "logloss", "ndcg_at_k", "spearman", "topk_overlap"]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted as half). NaN if one class is absent."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, dtype=np.float64).ravel()
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    r = rankdata(s)  # average ranks: ties count as half a pair
    return float((r[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def logloss(labels: np.ndarray, scores: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, scores clipped to ``[eps, 1 - eps]``."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(scores, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (scipy's); NaN with fewer than two values or when exactly one side is
    constant; 1.0 when both are (all ties on both sides: the same ranking)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if len(a) < 2:
        return float("nan")
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else float("nan")
    return float(spearmanr(a, b).statistic)


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
