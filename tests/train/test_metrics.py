"""The metrics against their definitions, computed the slow way, including ties and edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from masknet_edge.train import metrics


def _auc_by_pairs(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_is_the_share_of_correctly_ordered_pairs_ties_counting_half(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(200) < 0.3).astype(int)
    s = np.round(rng.random(200) + 0.3 * y, 1)  # rounded: many ties
    assert metrics.auc(y, s) == pytest.approx(_auc_by_pairs(y, s), abs=1e-12)
    assert np.isnan(metrics.auc(np.ones(5), s[:5]))  # one class only: undefined, not 0.5


def test_spearman_is_pearson_of_average_ranks_with_edge_cases():
    a = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    b = np.array([1.0, 0.0, 4.0, 4.0, 2.0])
    ranks_a, ranks_b = np.array([4, 1, 2.5, 2.5, 5]), np.array([2, 1, 4.5, 4.5, 3])
    assert metrics.spearman(a, b) == pytest.approx(np.corrcoef(ranks_a, ranks_b)[0, 1])
    assert metrics.spearman([1.0, 1.0], [2.0, 2.0]) == 1.0  # both constant: the same (all-tie) ranking
    assert np.isnan(metrics.spearman([1.0, 2.0], [3.0, 3.0]))  # one constant: nothing to correlate
    assert np.isnan(metrics.spearman([1.0], [1.0]))


def test_topk_overlap_and_ndcg_are_one_for_the_same_order_and_lower_otherwise():
    ref = np.arange(20.0)
    assert metrics.topk_overlap(ref, ref * 2, 5) == 1.0 and metrics.ndcg_at_k(ref, ref + 1, 5) == 1.0
    assert metrics.topk_overlap(ref, -ref, 5) == 0.0 and metrics.ndcg_at_k(ref, -ref, 5) < 1.0
