"""Where training runs: the devices TensorFlow sees, the distribution strategy over them, and the
mixed-precision policy that suits them."""

from __future__ import annotations

import logging
import os
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError

log = logging.getLogger("masknet.train")

__all__ = [
    "cpu_has_bfloat16",
    "device_summary",
    "leave_a_core_for_input",
    "mixed_policy",
    "split_cpu",
    "strategy_for",
]


def device_summary() -> str:
    """The devices training runs on, for logs and metrics (``GPU x1 (...)`` or ``CPU``)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU x{len(gpus)} ({', '.join(g.name for g in gpus)})" if gpus else "CPU"


#: CPU flags (Linux ``/proc/cpuinfo``) of bfloat16 matrix units: Intel AMX, AVX-512 BF16.
BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_has_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (``cpuinfo``: the text of
    ``/proc/cpuinfo``, read when None; False where it cannot be read)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return bool(BFLOAT16_FLAGS & set(line.partition(":")[2].split()))
    return False


def mixed_policy() -> str:
    """The Keras mixed-precision policy for this host: ``mixed_float16`` on a GPU (with Keras' loss
    scaling), ``mixed_bfloat16`` on a CPU, whose bfloat16 keeps float32's range (no loss scaling).

    Measured on a 2-core Xeon with AMX, the bare MovieLens step (one op thread): SerMaskNet 6.14 ms
    against 9.80 ms in float32 at batch 256, 20.6 against 37.7 ms at 1024; ParaMaskNet 5.48 against
    8.35 ms. A CPU without bfloat16 units (:func:`cpu_has_bfloat16`) emulates it, slower than float32:
    training logs a warning there."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def leave_a_core_for_input(cores: int | None = None) -> int | None:
    """On a host without a GPU, run TensorFlow's ops on every core but one (at least one), so the
    input pipeline and Python keep a core of their own; the thread count set, or None when nothing
    was changed (``TF_NUM_INTRAOP_THREADS`` set by the user, a GPU, or TensorFlow already running in
    this process, whose pools cannot change).

    Measured on a 2-core host, MovieLens-100K SerMaskNet at batch 256, fresh processes alternated
    (``benchmarks/bench_epoch.py --op-threads``): one op thread ran epochs of 3.70-3.92 s (median)
    where two took 4.78-6.75 s, and the bare compiled step alike; the AUC is the same.
    """
    if "TF_NUM_INTRAOP_THREADS" in os.environ:
        return None
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    available = cores if cores is not None else len(os.sched_getaffinity(0))
    threads = max(1, available - 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow is already running here (a notebook, a test): keep its pools
        return None
    return threads


def split_cpu(n: int) -> None:
    """Split the CPU into ``n`` logical devices (multi-replica training without GPUs, e.g. in tests).

    Must run before TensorFlow initialises its devices.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:  # already initialised in this process: keep what exists
        log.warning("TensorFlow devices are already initialised; cannot split the CPU into %d devices", n)


def strategy_for(distribute: str, cpu_devices: int = 1) -> Any:
    """The ``tf.distribute`` strategy of ``--distribute`` (``none``, ``mirrored``, ``multiworker``)."""
    import tensorflow as tf

    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        if not tf.config.list_physical_devices("GPU") and cpu_devices > 1:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_devices]
            return tf.distribute.MirroredStrategy(devices)
        return tf.distribute.MirroredStrategy()
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MasknetError(
        f"Expected distribute in ('none', 'mirrored', 'multiworker'). Received: {distribute!r}"
    )
