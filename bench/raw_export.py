"""Print JSON lines with the export time the raw-input files add, and their accuracy.

For each dataset, trains the mlp preset (conv for digits) and saves it as the
worker does. Times the worker's export child on fresh copies twice: with the default
files only, then with the default and raw-input files (one child, one TensorFlow
start). It then compares the raw-input files on raw validation features with the
trained model on standardised ones. For the float32 file it prints the largest output
difference divided by the largest output. For each int8 file (raw-input and default)
it prints the share of rows where that file picks the model's class, unless the export
rejected the raw int8 file (`raw_int8_kept` false).

Usage: python bench/raw_export.py [--datasets iris wine diabetes digits] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from velo_core import export, tflite_runtime
from velo_core.config import TrainConfig
from velo_core.deployable import Preprocessing
from velo_core.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["iris", "wine", "diabetes", "digits"]
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for dataset in args.datasets:
        model = "conv" if dataset == "digits" else "mlp"
        result = train(TrainConfig(dataset=dataset, model=model, epochs=30))
        emit(bench_dataset(dataset, model, result, args.repeats))


def bench_dataset(dataset: str, model: str, result, repeats: int) -> dict:
    """Returns the timing and accuracy row of one trained model."""
    preprocessing = Preprocessing.from_dataset(result.dataset)
    sample = export.representative_sample(result.dataset.x_train)
    default_seconds, raw_seconds = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            default_seconds.append(time_export(result, scratch, repeat, sample, None))
            raw_seconds.append(
                time_export(result, scratch, repeat, sample, preprocessing)
            )
        files = export.export_raw_model(
            result.model, Path(scratch), "accuracy", sample, preprocessing
        )
        accuracy = raw_accuracy(result, preprocessing, files)
    default_median = statistics.median(default_seconds)
    raw_median = statistics.median(raw_seconds)
    return {
        "bench": "raw_export",
        "dataset": dataset,
        "model": model,
        "export_seconds_default": round(default_median, 2),
        "export_seconds_with_raw": round(raw_median, 2),
        "added_seconds": round(raw_median - default_median, 2),
        "repeats": repeats,
        **accuracy,
    }


def time_export(result, scratch: str, repeat: int, sample, preprocessing) -> float:
    """Returns the seconds of one export child on a fresh copy of the model."""
    variant = "default" if preprocessing is None else "raw"
    keras_path = Path(scratch) / f"{variant}-{repeat}.keras"
    result.model.save(keras_path)
    started = time.perf_counter()
    export.export_in_subprocess(keras_path, sample, preprocessing=preprocessing)
    return time.perf_counter() - started


def raw_accuracy(result, preprocessing: Preprocessing, files: dict) -> dict:
    """Compares the raw-input files with the trained model on validation rows."""
    x_val = result.dataset.x_val
    raw_x_val = preprocessing.raw_features(x_val)
    expected = np.asarray(result.model(x_val))
    if preprocessing.is_regression:
        expected = preprocessing.target_mean + preprocessing.target_std * expected
    float32 = tflite_runtime.run_tflite(files[export.TFLITE], raw_x_val)
    difference = np.max(np.abs(float32 - expected)) / np.max(np.abs(expected))
    row = {
        "float32_max_difference_over_max_output": float(difference),
        "raw_int8_kept": export.TFLITE_INT8 in files,
    }
    if preprocessing.is_regression or not row["raw_int8_kept"]:
        return row
    raw_int8 = tflite_runtime.run_tflite(files[export.TFLITE_INT8], raw_x_val)
    default_int8 = tflite_runtime.run_tflite(
        export.to_tflite(
            result.model, export.representative_sample(result.dataset.x_train)
        ),
        x_val,
    )
    classes = expected.argmax(axis=1)
    row["int8_agreement_raw"] = float(np.mean(raw_int8.argmax(axis=1) == classes))
    row["int8_agreement_default"] = float(
        np.mean(default_int8.argmax(axis=1) == classes)
    )
    return row


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
