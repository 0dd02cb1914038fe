"""masknet-edge conversion: Keras model -> TFLite bundle, and quantization accuracy checks."""
