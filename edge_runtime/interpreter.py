"""Choosing a TFLite interpreter: LiteRT (preferred), the legacy tflite_runtime, or tensorflow.lite.

The backend is picked automatically in that order, or named with ``backend=``; the choice is
reported by :attr:`Interpreter.backend`. Only the chosen backend is imported, so on a device with
LiteRT TensorFlow is never loaded.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.errors import MissingDependencyError

__all__ = ["BACKENDS", "ModelRunner", "RunnerPool", "load_interpreter_class", "tensorflow_imported"]

BACKENDS = {
    "litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite",
}


def tensorflow_imported() -> bool:
    """Whether TensorFlow is loaded in this process (a device's runtime never loads it)."""
    return any(m.split(".")[0] == "tensorflow" for m in sys.modules)


def load_interpreter_class(backend: str = "auto") -> tuple[str, Any]:
    """Return ``(backend name, Interpreter class)``."""
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"Expected backend in {['auto', *BACKENDS]}. Received: backend={backend!r}")
    order = list(BACKENDS) if backend == "auto" else [backend]
    errors = []
    for name in order:
        try:
            module = importlib.import_module(BACKENDS[name])
            return name, module.Interpreter
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise MissingDependencyError(
        "no TFLite interpreter found (" + "; ".join(errors) + "). Install one: pip install ai-edge-litert"
    )


class ModelRunner:
    """One interpreter with named inputs; resizes the batch dimension only when it changes.

    Not thread-safe: one caller at a time (the :class:`~edge_runtime.ranker.Ranker` lends them from a
    :class:`RunnerPool`).
    """

    def __init__(self, model: bytes, num_threads: int = 1, backend: str = "auto") -> None:
        self.backend, cls = load_interpreter_class(backend)
        self._interp = cls(model_content=model, num_threads=num_threads)
        sigs = self._interp.get_signature_list()
        if sigs:
            key = "serving_default" if "serving_default" in sigs else next(iter(sigs))
            runner = self._interp.get_signature_runner(key)
            in_details = runner.get_input_details()
            out_details = runner.get_output_details()
            self._inputs = {name: d["index"] for name, d in in_details.items()}
            self.input_signature = {
                name: (np.dtype(d["dtype"]).name, [int(x) for x in d.get("shape_signature", d["shape"])])
                for name, d in in_details.items()
            }
            self._outputs = {name: d["index"] for name, d in out_details.items()}
            self.output_shapes = {
                name: [int(x) for x in d.get("shape_signature", d["shape"])]
                for name, d in out_details.items()
            }
            del runner  # it holds a reference that would block allocate_tensors()
        else:  # pragma: no cover - models from the converter always carry a signature
            self._inputs = {d["name"]: d["index"] for d in self._interp.get_input_details()}
            self.input_signature = {
                d["name"]: (np.dtype(d["dtype"]).name, [int(x) for x in d["shape_signature"]])
                for d in self._interp.get_input_details()
            }
            self._outputs = {d["name"]: d["index"] for d in self._interp.get_output_details()}
            self.output_shapes = {
                d["name"]: [int(x) for x in d["shape_signature"]] for d in self._interp.get_output_details()
            }
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._output_index = next(iter(self._outputs.values()))
        self._interp.allocate_tensors()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run the model; returns the first output as a float32 array of shape ``[batch]``."""
        if set(inputs) != set(self._inputs):
            raise ValueError(f"expected inputs {sorted(self._inputs)} vs provided {sorted(inputs)}")
        resized = False
        for name, value in inputs.items():
            if self._shapes.get(name) != value.shape:
                self._interp.resize_tensor_input(self._inputs[name], list(value.shape), strict=False)
                self._shapes[name] = value.shape
                resized = True
        if resized:
            self._interp.allocate_tensors()
        for name, value in inputs.items():
            self._interp.set_tensor(self._inputs[name], value)
        self._interp.invoke()
        out = np.array(self._interp.get_tensor(self._output_index), dtype=np.float32)
        batch = next(iter(inputs.values())).shape[0] if inputs else 0
        if out.size != batch:  # one score per row, or the model is not a CTR model
            raise ValueError(f"the model returned an output of shape {list(out.shape)} for {batch} rows")
        return out.reshape(-1)


class RunnerPool:
    """At most ``size`` interpreters of one model, lent to one caller at a time.

    TFLite interpreters are not thread-safe, so concurrent requests need one each; a pool bounds how
    many exist (each holds its own tensor arena, see :class:`~edge_runtime.ranker.Ranker`) instead
    of creating one per thread. Interpreters are created on demand; a caller finding all ``size`` in
    use waits for one to come back. The most recently returned one is lent first (its memory is warm).
    """

    def __init__(self, create: Callable[[], ModelRunner], size: int) -> None:
        self._create = create
        self.size = size
        self._idle: list[ModelRunner] = []
        self._created = 0
        self._available = threading.Condition()

    @property
    def created(self) -> int:
        """How many interpreters exist (idle or lent)."""
        return self._created

    @contextlib.contextmanager
    def borrow(self) -> Iterator[ModelRunner]:
        """``with pool.borrow() as runner:`` an interpreter for this caller alone."""
        runner = self._take()
        try:
            yield runner
        finally:
            with self._available:
                self._idle.append(runner)
                self._available.notify()

    def _take(self) -> ModelRunner:
        with self._available:
            while not self._idle and self._created >= self.size:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._created += 1  # reserved before creating, outside the lock
        try:
            return self._create()
        except BaseException:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise
