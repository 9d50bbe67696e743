"""Export a trained Keras model as .keras, TFLite float32 and TFLite int8 files.

TensorFlow is imported only inside the functions that convert or run TFLite files, so
importing this module (for `artifact_path` or `FORMATS`) stays light. A Keras model on
the JAX backend converts through `model.export(..., format="tf_saved_model")`, which
traces it with jax2tf, and then the TFLite converter reads that SavedModel.

Every format also has a raw-input variant (`inputs=RAW`, files such as
job-7.raw.int8.tflite): the model wrapped by `velo_core.deployable.with_preprocessing`,
which takes raw features and returns class logits or targets in their own unit. The
default files (`inputs=STANDARDISED`) take standardised features.

`export_in_subprocess` runs the conversion in a child process, so a long-lived process
(the worker) never keeps TensorFlow's memory (an estimated 460 MB) after an export.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from velo_core.deployable import Preprocessing, with_preprocessing
from velo_core.tflite_runtime import import_tensorflow, int8_agreement

KERAS = "keras"
TFLITE = "tflite"
TFLITE_INT8 = "tflite-int8"
FORMATS = (KERAS, TFLITE, TFLITE_INT8)
_SUFFIXES = {KERAS: ".keras", TFLITE: ".tflite", TFLITE_INT8: ".int8.tflite"}
MEDIA_TYPES = {
    KERAS: "application/zip",
    TFLITE: "application/octet-stream",
    TFLITE_INT8: "application/octet-stream",
}
STANDARDISED = "standardised"
RAW = "raw"
INPUTS = (STANDARDISED, RAW)

# Samples of the training split the int8 converter calibrates its ranges on.
REPRESENTATIVE_SAMPLES = 200
# A raw-input int8 file is kept only if it follows the raw float32 file this closely
# on the representative rows (see `int8_agreement`).
RAW_INT8_MIN_AGREEMENT = 0.95
SUBPROCESS_TIMEOUT_SECONDS = 600


def check_format(fmt: str) -> None:
    """Raises ValueError unless `fmt` is one of `FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}. Received: {fmt!r}")


def check_inputs(inputs: str) -> None:
    """Raises ValueError unless `inputs` is one of `INPUTS`."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {list(INPUTS)}. Received: {inputs!r}")


def artifact_path(
    directory: Path, stem: str, fmt: str, inputs: str = STANDARDISED
) -> Path:
    """Returns where the `fmt` file of model `stem` lives in `directory`.

    A raw-input file has ".raw" before its suffix: job-7.raw.tflite.
    """
    check_format(fmt)
    check_inputs(inputs)
    marker = ".raw" if inputs == RAW else ""
    return Path(directory) / f"{stem}{marker}{_SUFFIXES[fmt]}"


def representative_sample(
    x: np.ndarray, count: int = REPRESENTATIVE_SAMPLES, seed: int = 0
) -> np.ndarray:
    """Returns up to `count` rows of `x`, drawn without replacement, as float32."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) <= count:
        return x
    rows = np.random.default_rng(seed).choice(len(x), size=count, replace=False)
    return x[np.sort(rows)]


def to_tflite(model, representative_x: np.ndarray | None = None) -> bytes:
    """Converts a Keras model to a TFLite flatbuffer.

    Args:
        model: a built Keras 3 model with one input.
        representative_x: None for float32; else samples (rows of model inputs) to
            calibrate full int8 post-training quantisation, int8 inputs and outputs
            included, as microcontroller runtimes need.

    Returns:
        The TFLite file's bytes.
    """
    tf = import_tensorflow()
    with tempfile.TemporaryDirectory() as scratch:
        saved_model = os.path.join(scratch, "saved_model")
        model.export(saved_model, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if representative_x is not None:
            _configure_int8(tf, converter, representative_x)
        return converter.convert()


def _configure_int8(tf, converter, representative_x: np.ndarray) -> None:
    samples = np.asarray(representative_x, dtype=np.float32)
    if samples.ndim < 2 or len(samples) == 0:
        raise ValueError(
            "representative_x must hold at least one row of model inputs. "
            f"Received: shape {samples.shape}"
        )

    def batches() -> Iterator[list[np.ndarray]]:
        for row in samples:
            yield [row[None, ...]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = batches
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8


def export_model(
    model,
    directory: Path,
    stem: str,
    representative_x: np.ndarray,
    inputs: str = STANDARDISED,
) -> dict[str, Path]:
    """Writes the model in every format of `FORMATS`; returns format -> path.

    `inputs` only names the files; `export_raw_model` exports the raw-input variant.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {fmt: artifact_path(directory, stem, fmt, inputs) for fmt in FORMATS}
    if not paths[KERAS].exists():
        model.save(paths[KERAS])
    _write_atomically(paths[TFLITE], to_tflite(model))
    _write_atomically(paths[TFLITE_INT8], to_tflite(model, representative_x))
    return paths


def export_raw_model(
    model,
    directory: Path,
    stem: str,
    representative_x: np.ndarray,
    preprocessing: Preprocessing,
) -> dict[str, Path]:
    """Writes the raw-input variant of `model` in every format; returns format -> path.

    When the int8 file agrees with the float32 file on less than
    `RAW_INT8_MIN_AGREEMENT` of the rows, it is deleted and
    `raw_int8_rejection_path` contains the reason.

    Args:
        model: the trained model, which takes standardised features.
        directory: where the files go, named `stem` with ".raw" before the suffix.
        representative_x: standardised rows, as for `export_model`; the int8 file
            is calibrated on them mapped back to raw features.
        preprocessing: the training split's statistics.
    """
    raw_model = with_preprocessing(model, preprocessing)
    raw_x = preprocessing.raw_features(representative_x)
    paths = export_model(raw_model, directory, stem, raw_x, inputs=RAW)
    reason = _raw_int8_shortfall(paths, raw_x)
    marker = raw_int8_rejection_path(directory, stem)
    if reason is None:
        marker.unlink(missing_ok=True)
        return paths
    paths.pop(TFLITE_INT8).unlink()
    marker.write_text(reason)
    return paths


def raw_int8_rejection_path(directory: Path, stem: str) -> Path:
    """Returns the path of the reason file for a rejected raw int8 file of `stem`."""
    return Path(directory) / f"{stem}.raw.int8.rejected.txt"


def _raw_int8_shortfall(paths: dict[str, Path], raw_x: np.ndarray) -> str | None:
    # The int8 input has one scale for all raw features, so a feature with a small
    # range beside a large one (wine: hue up to 1.7, proline up to 1680) rounds to
    # a few steps. Such a file is not kept.
    agreement = int8_agreement(paths[TFLITE], paths[TFLITE_INT8], raw_x)
    if agreement >= RAW_INT8_MIN_AGREEMENT:
        return None
    return (
        f"the raw-input int8 file followed the float32 file on only "
        f"{agreement:.1%} of {len(raw_x)} training rows (at least "
        f"{RAW_INT8_MIN_AGREEMENT:.0%} needed), because its int8 input quantises "
        "features of very different ranges with one scale. Use the raw-input "
        "float32 file, or the default int8 file with standardisation on the device"
    )


def export_missing(
    model,
    directory: Path,
    stem: str,
    representative_x: np.ndarray,
    preprocessing: Preprocessing | None = None,
) -> dict[str, dict[str, Path]]:
    """Writes the files of `model` that do not exist yet; returns inputs -> paths.

    The raw-input variant is written only when `preprocessing` is given. A variant
    whose files all exist is not converted again.
    """
    written = {STANDARDISED: _existing_paths(directory, stem, STANDARDISED)}
    if written[STANDARDISED] is None:
        written[STANDARDISED] = export_model(model, directory, stem, representative_x)
    if preprocessing is None:
        return written
    written[RAW] = _existing_paths(directory, stem, RAW) or export_raw_model(
        model, directory, stem, representative_x, preprocessing
    )
    return written


def is_exported(directory: Path, stem: str) -> bool:
    """Returns whether every file of both input variants of `stem` is written.

    A raw int8 file that was not kept counts as written: its reason file is.
    """
    return all(_existing_paths(directory, stem, inputs) for inputs in INPUTS)


def _existing_paths(directory: Path, stem: str, inputs: str) -> dict[str, Path] | None:
    paths = {fmt: artifact_path(directory, stem, fmt, inputs) for fmt in FORMATS}
    if inputs == RAW and raw_int8_rejection_path(directory, stem).exists():
        del paths[TFLITE_INT8]
    return paths if all(path.exists() for path in paths.values()) else None


def _write_atomically(path: Path, content: bytes) -> None:
    # Readers never see a half-written file: they see no file, then the whole one.
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)


def export_in_subprocess(
    keras_path: Path,
    representative_x: np.ndarray,
    timeout_seconds: float = SUBPROCESS_TIMEOUT_SECONDS,
    preprocessing: Preprocessing | None = None,
) -> dict[str, dict[str, Path]]:
    """Exports the saved `.keras` file in a child Python process.

    Writes the missing files (see `export_missing`) next to `keras_path`, with the
    same stem; the raw-input variant too when `preprocessing` is given. Returns
    inputs -> format -> path.

    Raises:
        RuntimeError: with the child's last error lines when the export fails.
    """
    keras_path = Path(keras_path)
    stem = keras_path.name.removesuffix(_SUFFIXES[KERAS])
    written = run_model_child(
        "velo_core.export",
        keras_path,
        representative_x,
        keras_path.with_name(f"{stem}.representative.npy"),
        timeout_seconds,
        action="TFLite export",
        preprocessing=preprocessing,
    )
    return {
        inputs: {fmt: Path(path) for fmt, path in paths.items()}
        for inputs, paths in written.items()
    }


def run_model_child(
    module: str,
    keras_path: Path,
    representative_x: np.ndarray,
    sample_path: Path,
    timeout_seconds: float,
    *,
    action: str,
    preprocessing: Preprocessing | None = None,
) -> dict:
    """Run `python -m module KERAS_PATH --representative SAMPLE` and parse its JSON.

    The child process keeps TensorFlow out of the caller's memory. The sample is
    written to `sample_path` for the child and removed afterwards; so are the
    statistics, as JSON next to it with `--preprocessing FILE`, when given. The
    child reads its arguments with `parse_child_arguments`.

    Raises:
        RuntimeError: naming `action`, with the child's last error lines, when the
            child exits with an error.
        subprocess.TimeoutExpired: when it runs longer than `timeout_seconds`.
    """
    statistics_path = sample_path.with_suffix(".statistics.json")
    np.save(sample_path, np.asarray(representative_x, dtype=np.float32))
    command = [sys.executable, "-m", module, str(keras_path)]
    command += ["--representative", str(sample_path)]
    if preprocessing is not None:
        statistics_path.write_text(json.dumps(preprocessing.as_dict()))
        command += ["--preprocessing", str(statistics_path)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_seconds
        )
    finally:
        sample_path.unlink(missing_ok=True)
        statistics_path.unlink(missing_ok=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{action} failed (exit {done.returncode}): {tail}")
    # The JSON is the last line; libraries may print above it.
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_child_arguments(
    prog: str, argv: list[str] | None
) -> tuple[Path, np.ndarray, Preprocessing | None]:
    """Reads the arguments `run_model_child` passes: file, sample and statistics."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("keras_file", type=Path)
    parser.add_argument("--representative", type=Path, required=True)
    parser.add_argument("--preprocessing", type=Path, default=None)
    args = parser.parse_args(argv)
    samples = np.load(args.representative, allow_pickle=False)
    preprocessing = None
    if args.preprocessing is not None:
        fields = json.loads(args.preprocessing.read_text())
        preprocessing = Preprocessing.from_dict(fields)
    return args.keras_file, samples, preprocessing


def main(argv: list[str] | None = None) -> int:
    """Exports a `.keras` file to TFLite; prints inputs -> format -> path as JSON."""
    keras_file, samples, preprocessing = parse_child_arguments(
        "python -m velo_core.export", argv
    )
    from velo_core.models import import_keras

    model = import_keras().saving.load_model(keras_file, safe_mode=True)
    stem = keras_file.name.removesuffix(_SUFFIXES[KERAS])
    written = export_missing(model, keras_file.parent, stem, samples, preprocessing)
    print(json.dumps(_as_text(written)))
    return 0


def _as_text(written: dict[str, dict[str, Path]]) -> dict[str, dict[str, str]]:
    return {
        inputs: {fmt: str(path) for fmt, path in paths.items()}
        for inputs, paths in written.items()
    }


if __name__ == "__main__":
    sys.exit(main())
