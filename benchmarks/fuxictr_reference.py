"""The reference's recipe (``../shared/eval/PEER.md``) rerun with many seeds: FuxiCTR 2.3.10's trainer.

Run by ``bench_peer`` with the Python named in ``MASKNET_FUXICTR_PYTHON``: one that has FuxiCTR 2.3.10
and PyTorch (the project itself never needs either). For example::

    python3 -m venv /opt/fuxictr && /opt/fuxictr/bin/pip install fuxictr==2.3.10 "polars<2"

``python benchmarks/fuxictr_reference.py SPLIT_FOLDER WORK_FOLDER --models lr,dnn --seeds 0,1,2`` prints
one JSON object per run: ``{"model", "seed", "valid_auc", "test_auc", "best_epoch"... }``.

What is FuxiCTR's here, and what is not:

- Its feature processing (``FeatureProcessor``, ``build_dataset``: vocabularies fitted on the training
  split, rare values to one OOV id, the StandardScaler), its embedding and MLP layers and its trainer
  (``BaseModel.fit``: Adam, early stopping on validation AUC with patience 2, learning rate x 0.1 on
  every epoch without improvement, best weights restored, gradient norm clipped at 10), with PEER.md's
  settings per data set.
- The MaskNet modules are written here from the paper (per-field LayerNorm of the embeddings, an
  instance-guided mask from the raw embedding, MaskBlock = masked input -> Dense -> LayerNorm -> ReLU),
  in PEER.md's shapes; FuxiCTR's model zoo is not part of its package.
- DIN (Zhou et al., KDD 2018) as FuxiCTR's ``model_zoo/DIN`` builds it, from FuxiCTR's own layers
  (``FeatureEmbeddingDict``, ``DIN_Attention`` with Dice, 64 units, no softmax; an MLP), for replayed
  files with histories (``recent_*_item_id``): each history shares ``item_id``'s embedding rows and
  is attended by the candidate's ``item_id``; the MLP is PEER.md's DNN [400, 400, 400].
- Batches come from memory, shuffled by PyTorch's seeded generator: FuxiCTR 2.3.10 reads parquet
  through Ray Data: more than ten times slower on these small files, and not seeded by the run's seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from fuxictr.features import FeatureMap
from fuxictr.preprocess import FeatureProcessor, build_dataset
from fuxictr.pytorch.dataloaders import RankDataLoader
from fuxictr.pytorch.layers import (
    DIN_Attention,
    FeatureEmbedding,
    FeatureEmbeddingDict,
    LogisticRegression,
    MLP_Block,
)
from fuxictr.pytorch.models import BaseModel
from fuxictr.pytorch.torch_utils import seed_everything
from torch import nn

MODELS = ("sermasknet", "paramasknet", "dnn", "lr", "din")
EMBEDDING_DIM = 10
DROPOUT = 0.1


class MemoryBatches:
    """A split's parquet file held as tensors; a new seeded shuffle per epoch (FuxiCTR's loader protocol)."""

    def __init__(
        self,
        feature_map: FeatureMap,
        data_path: str,
        split: str = "train",
        batch_size: int = 256,
        shuffle: bool = False,
        **_: Any,
    ) -> None:
        columns = list(feature_map.features) + feature_map.labels
        frame = pd.read_parquet(data_path, columns=columns)
        self.tensors = {
            c: torch.from_numpy(np.stack(frame[c].to_numpy()))
            if frame[c].dtype == object
            else torch.from_numpy(frame[c].to_numpy().copy())
            for c in columns
        }
        self.num_samples, self.num_blocks = len(frame), 1
        self.batch_size, self.shuffle = batch_size, shuffle and split != "test"

    def __iter__(self) -> Any:
        """The epoch's batches: ``{column: tensor}``."""
        order = torch.randperm(self.num_samples) if self.shuffle else torch.arange(self.num_samples)
        for start in range(0, self.num_samples, self.batch_size):
            rows = order[start : start + self.batch_size]
            yield {c: t[rows] for c, t in self.tensors.items()}

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)


class MaskBlock(nn.Module):
    """Mask = W2 ReLU(W1 e + b1) + b2 (width = hidden x 2); out = ReLU(LayerNorm(W (mask * hidden)))."""

    def __init__(self, embedding_width: int, hidden_width: int, units: int) -> None:
        super().__init__()
        self.mask = nn.Sequential(
            nn.Linear(embedding_width, 2 * hidden_width), nn.ReLU(), nn.Linear(2 * hidden_width, hidden_width)
        )
        self.out = nn.Sequential(
            nn.Linear(hidden_width, units, bias=False), nn.LayerNorm(units), nn.ReLU(), nn.Dropout(DROPOUT)
        )

    def forward(self, embedding: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The block's output for the raw embedding (the mask's input) and the hidden input it masks."""
        return self.out(self.mask(embedding) * hidden)


class ReferenceModel(BaseModel):
    """LR, DNN [400, 400, 400], SerMaskNet 3 x 400 or ParaMaskNet 3 x 200 + MLP [400, 400] (PEER.md)."""

    def __init__(
        self, feature_map: FeatureMap, kind: str, embedding_std: float | None = None, **kw: Any
    ) -> None:
        learning_rate = 1e-2 if kind == "lr" else 1e-3
        super().__init__(feature_map, model_id=kind, **kw)
        self.kind, fields = kind, feature_map.num_fields
        width = fields * EMBEDDING_DIM
        if kind == "lr":
            self.lr = LogisticRegression(feature_map, use_bias=True)
        else:
            init = (
                {}
                if embedding_std is None
                else {"embedding_initializer": f"partial(nn.init.normal_, std={embedding_std})"}
            )
            self.embedding = FeatureEmbedding(feature_map, EMBEDDING_DIM, **init)
        if kind == "dnn":
            self.head = MLP_Block(
                input_dim=width,
                output_dim=1,
                hidden_units=[400, 400, 400],
                hidden_activations="ReLU",
                output_activation=None,
                dropout_rates=DROPOUT,
            )
        elif kind in ("sermasknet", "paramasknet"):
            self.norms = nn.ModuleList(nn.LayerNorm(EMBEDDING_DIM) for _ in range(fields))
            if kind == "sermasknet":
                widths = [width, 400, 400, 400]
                self.blocks = nn.ModuleList(MaskBlock(width, widths[i], widths[i + 1]) for i in range(3))
                self.head = nn.Linear(400, 1)
            else:
                self.blocks = nn.ModuleList(MaskBlock(width, width, 200) for _ in range(3))
                self.head = MLP_Block(
                    input_dim=600,
                    output_dim=1,
                    hidden_units=[400, 400],
                    hidden_activations="ReLU",
                    output_activation=None,
                    dropout_rates=DROPOUT,
                )
        self.compile(kw["optimizer"], kw["loss"], learning_rate)
        self.reset_parameters()
        self.model_to_device()

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"y_pred": probability}`` for a batch."""
        x = self.get_inputs(inputs)
        if self.kind == "lr":
            return {"y_pred": self.output_activation(self.lr(x))}
        emb = self.embedding(x)  # (batch, fields, k)
        if self.kind == "dnn":
            return {"y_pred": self.output_activation(self.head(emb.flatten(1)))}
        fields = emb.chunk(len(self.norms), dim=1)
        normed = torch.cat([norm(f) for norm, f in zip(self.norms, fields, strict=True)], dim=1).flatten(1)
        raw = emb.flatten(1)
        if self.kind == "sermasknet":
            hidden = normed
            for block in self.blocks:
                hidden = block(raw, hidden)
        else:
            hidden = torch.cat([block(raw, normed) for block in self.blocks], dim=-1)
        return {"y_pred": self.output_activation(self.head(hidden))}


class DINReference(BaseModel):
    """DIN: each history attended by the candidate's ``item_id`` (padding masked), then an MLP."""

    def __init__(self, feature_map: FeatureMap, histories: list[str], **kw: Any) -> None:
        super().__init__(feature_map, model_id="din", **kw)
        self.histories = histories
        self.embedding = FeatureEmbeddingDict(feature_map, EMBEDDING_DIM)
        self.attention = nn.ModuleList(
            DIN_Attention(EMBEDDING_DIM, attention_units=[64], hidden_activations="Dice") for _ in histories
        )
        self.head = MLP_Block(
            input_dim=feature_map.sum_emb_out_dim(),
            output_dim=1,
            hidden_units=[400, 400, 400],
            hidden_activations="ReLU",
            output_activation=None,
            dropout_rates=DROPOUT,
        )
        self.compile(kw["optimizer"], kw["loss"], 1e-3)
        self.reset_parameters()
        self.model_to_device()

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"y_pred": probability}`` for a batch."""
        x = self.get_inputs(inputs)
        emb = self.embedding(x)
        for history, attention in zip(self.histories, self.attention, strict=True):
            emb[history] = attention(emb["item_id"], emb[history], x[history].long() != 0)
        flat = self.embedding.dict2tensor(emb, flatten_emb=True)
        return {"y_pred": self.output_activation(self.head(flat))}


def _replayed_features(split: Path, work: Path, columns: list[str]) -> list[dict[str, Any]]:
    """Replayed MovieLens rows: histories share ``item_id``'s rows; the events' age buckets (``_ages``)
    are mean-pooled sequences, as DIN has no place for them in its attention; counts log1p'd, rates
    with a missing value (no exposure yet) filled by the training mean, both standardized on train (as
    our encoder)."""
    histories = [c for c in columns if c.startswith("recent_") and c.endswith("_item_id")]
    ages = [c for c in columns if c.startswith("recent_") and c.endswith("_ages")]
    numeric = [c for c in columns if c.startswith(("recent_clicks", "recent_impressions", "click_rate_"))]
    cats = [c for c in columns if c not in (*histories, *ages, *numeric, "timestamp", "genres")]
    prepared = work / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    means: dict[str, float] = {}
    for part in ("train", "valid", "test"):
        frame = pd.read_csv(
            split / f"{part}.csv", dtype={c: str for c in (*cats, *histories, *ages, "genres")}
        )
        for c in numeric:
            x = frame[c].astype(float)
            if c.startswith("recent_"):
                x = np.log1p(np.maximum(x.fillna(0), 0))
            means.setdefault(c, float(x.mean()))
            frame[c] = x.fillna(means[c])
        frame.to_csv(prepared / f"{part}.csv", index=False)
    sequence = {"active": True, "dtype": "str", "type": "sequence", "splitter": "|"}
    return [
        {"name": cats, "active": True, "dtype": "str", "type": "categorical"},
        {"name": "genres", **sequence, "feature_encoder": "layers.MaskedAveragePooling()"},
        *(
            {"name": a, **sequence, "max_len": 50, "feature_encoder": "layers.MaskedAveragePooling()"}
            for a in ages
        ),
        *(
            {"name": h, **sequence, "max_len": 50, "share_embedding": "item_id", "feature_encoder": None}
            for h in histories
        ),
        {
            "name": numeric,
            "active": True,
            "dtype": "float",
            "type": "numeric",
            "normalizer": "StandardScaler",
        },
    ]


def _features(split: Path, work: Path) -> tuple[list[dict[str, Any]], int, int, Path]:
    """PEER.md's feature recipe for the split's data set: columns, min_count, batch size, CSV folder."""
    columns = [c for c in (split / "train.csv").open().readline().strip().split(",") if c != "label"]
    if "recent_shown_item_id" in columns:  # MovieLens-100K replayed with histories
        return _replayed_features(split, work, columns), 1, 1024, work / "prepared"
    # MovieLens-100K: timestamp dropped, age categorical, genres a mean-pooled sequence
    if "genres" in columns:
        cats = [c for c in columns if c not in ("timestamp", "genres")]
        return (
            [
                {"name": cats, "active": True, "dtype": "str", "type": "categorical"},
                {
                    "name": "genres",
                    "active": True,
                    "dtype": "str",
                    "type": "sequence",
                    "splitter": "|",
                    "feature_encoder": "layers.MaskedAveragePooling()",
                },
            ],
            1,
            1024,
            split,
        )
    numeric = [c for c in columns if c.startswith("I") and c[1:].isdigit()]
    cats = [c for c in columns if c not in numeric]
    spec = [{"name": cats, "active": True, "dtype": "str", "type": "categorical"}]
    if not numeric:  # Avazu-8k
        return spec, 2, 256, split
    logged = work / "logged"  # Criteo-8k: blank -> 0, log(1 + max(x, 0)), standardized on train
    logged.mkdir(parents=True, exist_ok=True)
    for part in ("train", "valid", "test"):
        frame = pd.read_csv(split / f"{part}.csv", dtype={c: str for c in cats})
        for c in numeric:
            frame[c] = np.log1p(np.maximum(frame[c].fillna(0).astype(float), 0))
        frame.to_csv(logged / f"{part}.csv", index=False)
    spec.append(
        {
            "name": numeric,
            "active": True,
            "dtype": "float",
            "type": "numeric",
            "fill_na": 0,
            "normalizer": "StandardScaler",
        }
    )
    return spec, 2, 256, logged


def run(
    split: Path, work: Path, models: list[str], seeds: list[int], embedding_std: float | None = None
) -> None:
    """Train each model with each seed on the split; print one JSON line per run."""
    torch.set_num_threads(1)
    spec, min_count, batch, folder = _features(split, work)
    processor = FeatureProcessor(
        feature_cols=spec,
        label_col={"name": "label", "dtype": "float"},
        dataset_id="split",
        data_root=str(work),
    )
    train, valid, test = build_dataset(
        processor,
        train_data=str(folder / "train.csv"),
        valid_data=str(folder / "valid.csv"),
        test_data=str(folder / "test.csv"),
        data_format="csv",
        min_categr_count=min_count,
    )
    feature_map = FeatureMap("split", str(work / "split"))
    feature_map.load(str(work / "split" / "feature_map.json"), {"embedding_dim": EMBEDDING_DIM})
    (work / "checkpoints" / "split").mkdir(parents=True, exist_ok=True)
    for kind in models:
        for seed in seeds:
            seed_everything(seed)
            started = time.perf_counter()
            settings = {
                "optimizer": "adam",
                "loss": "binary_crossentropy",
                "verbose": 0,
                "model_root": str(work / "checkpoints"),
                "metrics": ["AUC", "logloss"],
            }
            if kind == "din":
                histories = [
                    f for f, s in feature_map.features.items() if s.get("share_embedding") == "item_id"
                ]
                if not histories:
                    raise SystemExit(f"din needs histories sharing item_id's rows; {split} has none")
                model: BaseModel = DINReference(feature_map, histories, **settings)
            else:
                model = ReferenceModel(feature_map, kind, embedding_std, **settings)
            batches = {"batch_size": batch, "data_format": "parquet", "data_loader": MemoryBatches}
            train_gen, valid_gen = RankDataLoader(
                feature_map, stage="train", train_data=train, valid_data=valid, shuffle=True, **batches
            )
            model.fit(train_gen, validation_data=valid_gen, epochs=20)
            valid_auc = model.evaluate(valid_gen)["AUC"]
            test_gen = RankDataLoader(feature_map, stage="test", test_data=test, shuffle=False, **batches)
            test_auc = model.evaluate(test_gen)["AUC"]
            print(
                json.dumps(
                    {
                        "model": kind,
                        "seed": seed,
                        "valid_auc": float(valid_auc),
                        "test_auc": float(test_auc),
                        "seconds": round(time.perf_counter() - started, 1),
                    }
                ),
                flush=True,
            )


def main() -> None:
    """Command line: split folder, work folder, ``--models``, ``--seeds``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split", type=Path, help="folder with train.csv, valid.csv, test.csv")
    parser.add_argument("work", type=Path, help="an empty folder for FuxiCTR's parquet files and checkpoints")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--embedding-std",
        type=float,
        default=None,
        help="embedding rows ~ N(0, this) in DNN and MaskNet (an experiment); default FuxiCTR's 1e-4",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.models.split(",")) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; expected some of {list(MODELS)}")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_DISABLE_IMPORT_WARNING", "1")
    run(
        args.split,
        args.work,
        args.models.split(","),
        [int(s) for s in args.seeds.split(",")],
        args.embedding_std,
    )


if __name__ == "__main__":
    main()
