"""masknet-edge on the device: the feature contract (spec, hash, encoder), the behaviour log and the ranker.

Imports numpy, the FarmHash binding and a TFLite interpreter only; never TensorFlow. The public classes
are exported by :mod:`masknet_edge`.
"""
