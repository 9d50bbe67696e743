"""Measure whether a trained model fits a small device: size and TFLite latency.

`measure_in_subprocess` converts a saved `.keras` file to TFLite float32 and int8
(with `velo_core.export`, raw-input variants included when given the statistics) and
times single-sample inferences through the TFLite interpreter, all in a child
process, so the caller never keeps TensorFlow's memory.
The latency is that of the measuring host's CPU, which the result names.
"""

from __future__ import annotations

import json
import platform
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from velo_core import export
from velo_core.deployable import Preprocessing

# Single-sample inferences timed after the warm-up ones; the median is reported.
WARMUP_RUNS = 10
TIMED_RUNS = 200
SUBPROCESS_TIMEOUT_SECONDS = 600


def host_description() -> str:
    """Returns this host's name and CPU model, e.g. "worker-1 (AMD EPYC 7B13)"."""
    return f"{socket.gethostname()} ({cpu_model()})"


def cpu_model() -> str:
    """Returns the CPU model name from /proc/cpuinfo, else what `platform` reports."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def median_latency_ms(tflite_path: Path, sample: np.ndarray) -> float:
    """Returns the median milliseconds of one inference of `sample` (one row)."""
    tf = _import_tensorflow()
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    source = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(source["index"], (1, *sample.shape))
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    interpreter.set_tensor(source["index"], sample[None, ...].astype(source["dtype"]))
    durations = []
    for run in range(WARMUP_RUNS + TIMED_RUNS):
        started = time.perf_counter()
        interpreter.invoke()
        if run >= WARMUP_RUNS:
            durations.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(durations)


def measure(
    keras_path: Path,
    representative_x: np.ndarray,
    preprocessing: Preprocessing | None = None,
) -> dict[str, Any]:
    """Converts `keras_path` to TFLite where not done yet and measures the files.

    With `preprocessing`, also writes the raw-input files (`export.export_missing`),
    so that the export after it needs no second TensorFlow start.
    """
    keras = _import_keras()
    model = keras.saving.load_model(keras_path, safe_mode=True)
    stem = keras_path.name.removesuffix(".keras")
    written = export.export_missing(
        model, keras_path.parent, stem, representative_x, preprocessing
    )
    paths = written[export.STANDARDISED]
    sample = np.asarray(representative_x[0], dtype=np.float32)
    return {
        "param_count": int(model.count_params()),
        "tflite_float32_bytes": paths[export.TFLITE].stat().st_size,
        "tflite_int8_bytes": paths[export.TFLITE_INT8].stat().st_size,
        "latency_ms_median": median_latency_ms(paths[export.TFLITE], sample),
        "latency_runs": TIMED_RUNS,
        "measured_on": host_description(),
    }


def measure_in_subprocess(
    keras_path: Path,
    representative_x: np.ndarray,
    timeout_seconds: float = SUBPROCESS_TIMEOUT_SECONDS,
    preprocessing: Preprocessing | None = None,
) -> dict[str, Any]:
    """Runs `measure` in a child Python process and returns its figures.

    Raises:
        RuntimeError: with the child's last error lines when it fails.
        subprocess.TimeoutExpired: when it runs longer than `timeout_seconds`.
    """
    keras_path = Path(keras_path)
    sample_path = keras_path.with_name(keras_path.stem + ".device-fit.npy")
    return export.run_model_child(
        "velo_core.device_fit",
        keras_path,
        representative_x,
        sample_path,
        timeout_seconds,
        action="device fit",
        preprocessing=preprocessing,
    )


def _import_tensorflow():
    # TensorFlow imports Keras, which must come up on the JAX backend first.
    _import_keras()
    import tensorflow as tf

    return tf


def _import_keras():
    from velo_core.models import import_keras

    return import_keras()


def main(argv: list[str] | None = None) -> int:
    """Measures a `.keras` file's device fit; prints the figures as JSON."""
    keras_file, samples, preprocessing = export.parse_child_arguments(
        "python -m velo_core.device_fit", argv
    )
    print(json.dumps(measure(keras_file, samples, preprocessing)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
