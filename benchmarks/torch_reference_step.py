"""The SerMaskNet training step of MovieLens-100K's shape in PyTorch, for a side-by-side figure.

Run by ``bench_throughput`` with the Python named in ``MASKNET_TORCH_PYTHON`` (one that has
PyTorch; the project itself never needs it). Same shapes as our model on MovieLens: 9 fields of
k = 10 over a 3,443-row table, 3 serial MaskBlocks of 400 with reduction ratio 2, per-field
LayerNorm, Adam. Prints one JSON object: examples/s per batch size (best of 3 x 30 steps).
"""

from __future__ import annotations

import json
import time

import torch
from torch import nn

FIELDS, K, VOCAB, UNITS = 9, 10, 3443, 400


class _Block(nn.Module):
    def __init__(self, hidden: int, out: int) -> None:
        super().__init__()
        self.mask = nn.Sequential(nn.Linear(FIELDS * K, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden))
        self.dense = nn.Linear(hidden, out, bias=False)
        self.norm = nn.LayerNorm(out)

    def forward(self, emb: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.dense(self.mask(emb) * h)))


class _SerMaskNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, K)
        self.ln = nn.LayerNorm(K)
        self.blocks = nn.ModuleList([_Block(FIELDS * K, UNITS), _Block(UNITS, UNITS), _Block(UNITS, UNITS)])
        self.out = nn.Linear(UNITS, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids)
        h, e = self.ln(e).flatten(1), e.flatten(1)
        for block in self.blocks:
            h = block(e, h)
        return torch.sigmoid(self.out(h)).squeeze(1)


def examples_per_s(batch: int) -> float:
    """Best of 3 x 30 training steps on one fixed batch."""
    torch.manual_seed(0)
    model = _SerMaskNet()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss = nn.BCELoss()
    ids = torch.randint(0, VOCAB, (batch, FIELDS))
    y = torch.randint(0, 2, (batch,)).float()

    def step() -> None:
        opt.zero_grad()
        loss(model(ids), y).backward()
        opt.step()

    for _ in range(5):
        step()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(30):
            step()
        best = min(best, (time.perf_counter() - t) / 30)
    return batch / best


if __name__ == "__main__":
    result = {"version": torch.__version__, "threads": torch.get_num_threads()}
    result.update({str(b): examples_per_s(b) for b in (256, 1024)})
    print(json.dumps(result))
