"""What happens after every epoch: exact validation AUC, the best model, a checkpoint that
``--resume`` can continue from, the learning rate on a plateau, early stopping, a progress bar.

Imported only when training starts (it imports Keras).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from masknet_edge.edge_runtime.errors import MasknetError
from masknet_edge.train import metrics
from masknet_edge.train.config import TrainConfig
from masknet_edge.train.rundir import copy_atomic, save_model_atomic, write_json

__all__ = ["EpochCallback", "predict_scores"]

log = logging.getLogger("masknet.train")

#: Rows per prediction batch at most. A validation or test file up to this size is scored in one
#: batch: one graph traced per model instead of two (the last, shorter batch traces again), and fewer
#: calls. Measured on the 10,000 MovieLens validation rows: 0.19-0.21 s per pass against 0.22-0.37 s
#: in batches of 4,096, and 0.35 s against 0.51-0.68 s for the first (tracing) pass.
PREDICT_BATCH = 32_768


def predict_scores(model: keras.Model, x: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
    """The model's scores for the encoded rows ``x`` (its inputs by name, or one array), one per row."""
    first = next(iter(x.values()), ()) if isinstance(x, dict) else x
    rows = len(first)
    if model.distribute_strategy.num_replicas_in_sync > 1:  # Keras' predict splits batches among replicas
        return model.predict(x, batch_size=max(1, min(rows, PREDICT_BATCH)), verbose=0).ravel()
    # ``predict_on_batch`` calls the compiled predict function directly, without ``predict``'s
    # per-call input pipeline: measured on the 10,000 MovieLens validation rows, 0.14 s a pass
    # against 0.19-0.21 s, and 0.24 s against 0.50 s for the first (tracing) pass; the same scores.
    parts = [
        np.asarray(model.predict_on_batch(_rows(x, start, start + PREDICT_BATCH))).ravel()
        for start in range(0, rows, PREDICT_BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _rows(x: dict[str, np.ndarray] | np.ndarray, start: int, stop: int) -> dict[str, np.ndarray] | np.ndarray:
    return {k: v[start:stop] for k, v in x.items()} if isinstance(x, dict) else x[start:stop]


class TrainingDiverged(MasknetError, RuntimeError):
    """The weights became non-finite: nothing of the run is kept."""


class EpochCallback(keras.callbacks.Callback):
    """After each epoch: exact validation AUC, best model, checkpoint + state, early stopping."""

    def __init__(
        self,
        out: Path,
        x_valid: dict,
        y_valid: np.ndarray,
        cfg: TrainConfig,
        state: dict,
        bar_steps: int = 0,
        predict: Callable[[dict], np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.out, self.x_valid, self.y_valid, self.cfg, self.state = out, x_valid, y_valid, cfg, state
        # How validation scores are computed: model.predict, or the caller's (multi-worker training
        # scores outside Keras' distributed predict).
        self.predict = predict
        self._t = 0.0
        # The best epoch's weights, kept in memory for the restores on a plateau and at the end
        # (None until an epoch of this process improves, or a restore loads them from best.keras).
        self.best_weights: list[np.ndarray] | None = None
        self.bar_steps = bar_steps  # > 0: a progress bar of that many batches per epoch on stderr
        self._bar: Any = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t = time.perf_counter()
        if self.bar_steps:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.bar_steps, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", unit="batch", leave=False
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:  # called once per execution of several steps: ``batch`` is the last
            self._bar.update(batch + 1 - self._bar.n)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t
        if self.predict is not None:
            p = self.predict(self.x_valid)
        else:
            p = predict_scores(self.model, self.x_valid)
        if not np.isfinite(p).all():  # a diverged model would be saved, converted and shipped
            raise TrainingDiverged(
                f"training diverged in epoch {epoch + 1}: the model's validation scores are not finite "
                f"(learning rate {self.state['learning_rate']:g}); lower --learning-rate and start again"
            )
        val_auc, val_ll = metrics.auc(self.y_valid, p), metrics.logloss(self.y_valid, p)
        s = self.state
        s["epoch"] = epoch + 1
        s["train_seconds"] += seconds
        s["history"].append(
            {
                "epoch": epoch + 1,
                "loss": float((logs or {}).get("loss", float("nan"))),
                "val_auc": val_auc,
                "val_logloss": val_ll,
                "seconds": round(seconds, 3),
                "learning_rate": s["learning_rate"],
            }
        )
        ckpt = self.out / "checkpoints"
        if s["best_auc"] is None or val_auc > s["best_auc"]:
            s["best_auc"], s["best_epoch"], s["wait"] = val_auc, epoch + 1, 0
            save_model_atomic(self.model, ckpt / "best.keras")
            self.best_weights = self.model.get_weights()
            copy_atomic(ckpt / "best.keras", ckpt / "last.keras")  # the same model at the same moment
        else:  # a plateau: wait, and reduce the learning rate for the next epoch
            s["wait"] += 1
            s["learning_rate"] = max(s["learning_rate"] * self.cfg.lr_decay, self.cfg.min_learning_rate)
            self.model.optimizer.learning_rate = s["learning_rate"]
            if self.cfg.restore_on_plateau:  # go on from the best weights, not from the worse ones
                self.restore_best()
            save_model_atomic(self.model, ckpt / "last.keras")
        write_json(ckpt / "state.json", s)  # written last: it only ever names finished checkpoints
        log.info("epoch %d: val AUC %.4f, val logloss %.4f (%.1fs)", epoch + 1, val_auc, val_ll, seconds)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            best = " (best)" if s["best_epoch"] == epoch + 1 else ""
            print(f"epoch {epoch + 1}: valid AUC {val_auc:.4f}, logloss {val_ll:.4f}{best}", file=sys.stderr)
        if s["wait"] >= self.cfg.patience:
            self.model.stop_training = True

    def restore_best(self) -> None:
        """Set the model's weights to the best epoch's (from memory; from ``best.keras`` when no
        epoch of this process improved, as after ``--resume``)."""
        if self.best_weights is None:
            path = self.out / "checkpoints" / "best.keras"
            self.best_weights = keras.saving.load_model(path, safe_mode=True, compile=False).get_weights()
        self.model.set_weights(self.best_weights)
