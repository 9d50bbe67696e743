"""Run TFLite files with the interpreter, and compare an int8 file with its float32 one.

TensorFlow is imported on first use, so importing this module stays light.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np


def int8_agreement(float32_file: Path, int8_file: Path, x: np.ndarray) -> float:
    """Returns how closely the int8 file follows the float32 file on rows `x`.

    For several outputs (class logits): the share of rows where both pick the same
    class. For one output (regression): 1 - MSE / variance of the float32 outputs,
    the R^2 of the int8 outputs against the float32 ones.
    """
    reference = run_tflite(float32_file, x)
    quantised = run_tflite(int8_file, x)
    if reference.shape[-1] > 1:
        return float(np.mean(reference.argmax(-1) == quantised.argmax(-1)))
    variance = float(np.var(reference))
    error = float(np.mean((reference - quantised) ** 2))
    return 1.0 - error / variance if variance > 0 else float(error == 0)


def run_tflite(model: bytes | Path | str, x: np.ndarray) -> np.ndarray:
    """Runs a TFLite model on the rows of `x` and returns float32 outputs.

    Quantised inputs and outputs are converted with the scale and zero point the
    file stores, so float32 and int8 files take and give the same values.
    """
    interpreter = _interpreter(model)
    x = np.asarray(x, dtype=np.float32)
    source = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(source["index"], x.shape)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    interpreter.set_tensor(source["index"], _quantize(x, source))
    interpreter.invoke()
    return _dequantize(interpreter.get_tensor(target["index"]), target)


def _interpreter(model: bytes | Path | str):
    tf = import_tensorflow()
    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that it moves to a separate package; it still
        # ships with TensorFlow 2.21 and reads the same files.
        warnings.simplefilter("ignore", UserWarning)
        return tf.lite.Interpreter(model_content=content)


def _quantize(x: np.ndarray, details: dict) -> np.ndarray:
    scale, zero_point = details["quantization"]
    if details["dtype"] == np.float32 or scale == 0:
        return x.astype(details["dtype"])
    info = np.iinfo(details["dtype"])
    values = np.round(x / scale + zero_point)
    return np.clip(values, info.min, info.max).astype(details["dtype"])


def _dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    scale, zero_point = details["quantization"]
    if details["dtype"] == np.float32 or scale == 0:
        return values.astype(np.float32)
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def import_tensorflow():
    """Imports TensorFlow after Keras; raises RuntimeError naming the package."""
    from velo_core.models import import_keras

    # TensorFlow imports Keras; Keras must come up on the JAX backend first.
    import_keras()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as error:
        raise RuntimeError(
            "TFLite export needs TensorFlow: pip install tensorflow-cpu==2.21.0. "
            f"Received: {error}"
        ) from error
    return tf
