"""Where training runs: the devices TensorFlow sees, and the distribution strategy over them."""

from __future__ import annotations

import logging
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError

log = logging.getLogger("masknet.train")

__all__ = ["device_summary", "split_cpu", "strategy_for"]


def device_summary() -> str:
    """The devices training runs on, for logs and metrics (``GPU x1 (...)`` or ``CPU``)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU x{len(gpus)} ({', '.join(g.name for g in gpus)})" if gpus else "CPU"


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
