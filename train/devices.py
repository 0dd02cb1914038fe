"""Where training runs: the devices TensorFlow sees, and the distribution strategy over them."""

from __future__ import annotations

import logging
import os
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError

log = logging.getLogger("masknet.train")

__all__ = ["device_summary", "leave_a_core_for_input", "split_cpu", "strategy_for"]


def device_summary() -> str:
    """The devices training runs on, for logs and metrics (``GPU x1 (...)`` or ``CPU``)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU x{len(gpus)} ({', '.join(g.name for g in gpus)})" if gpus else "CPU"


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
