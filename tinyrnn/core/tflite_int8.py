"""The one TFLite full-integer int8 converter setting, used for trained and budget models alike.

int8 weights and activations, int8 model input and output (the device streams int8 windows and
reads int8 scores), calibrated on normalized windows. TensorFlow is imported by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def configure_int8(converter, calibration: Iterable[np.ndarray]) -> None:
    """Set ``converter`` (a tf.lite.TFLiteConverter) to full-integer int8 on these windows."""
    import tensorflow as tf

    windows = [np.asarray(w, np.float32) for w in calibration]

    def representative():
        for window in windows:
            yield [window[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
