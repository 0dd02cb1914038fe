"""masknet-edge training: the MaskNet model, data loaders and the training pipeline (needs TensorFlow)."""
