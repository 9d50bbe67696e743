"""Parse and validate people's own tables (CSV or NPZ) into feature and label arrays.

Pure numpy, so the API process can validate an upload without importing JAX; only
`load_user_dataset` imports scikit-learn, to split the table like the bundled data.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from velo_core import catalog

CSV = "csv"
NPZ = "npz"
FORMATS = (CSV, NPZ)
TASKS = (catalog.CLASSIFICATION, catalog.REGRESSION)
MIN_ROWS = 10
# Integer-like numeric labels with at most this many distinct values are classes.
MAX_INFERRED_CLASSES = 20
_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024


class UserDataError(ValueError):
    """The uploaded table cannot be trained on; `field` names the bad input."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Table:
    """A parsed table: float32 features and the raw label column.

    Attributes:
        features: (rows, columns) float32, every value finite.
        labels: (rows,) float64 numbers, or str for text labels.
        feature_names: one name per feature column.
        label: the label column's name ("y" for NPZ files).
    """

    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class TableSummary:
    """Describes a validated table: its size, task and classes."""

    num_rows: int
    num_features: int
    task: str
    num_classes: int | None
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    label: str


def detect_format(filename: str, content: bytes) -> str:
    """Returns "npz" for a zip archive or a .npz name, else "csv"."""
    if filename.lower().endswith(".npz") or content[:4] == b"PK\x03\x04":
        return NPZ
    return CSV


def parse_table(content: bytes, fmt: str, label: str | None) -> Table:
    """Parses CSV or NPZ bytes into a `Table`; raises UserDataError."""
    if fmt == NPZ:
        return parse_npz(content)
    if fmt != CSV:
        raise UserDataError(f"format must be one of {list(FORMATS)}. Received: {fmt!r}")
    if not label:
        raise UserDataError(
            "a CSV file needs the name of its label column. Received: label=None",
            field="label",
        )
    return parse_csv(content, label)


def parse_csv(content: bytes, label: str) -> Table:
    """Parses CSV bytes with a header row; column `label` contains the labels.

    The encoding (UTF-8 with or without BOM, UTF-16 with BOM, else Latin-1) and the
    delimiter (comma, semicolon, tab or bar) are detected; quoted fields work.
    """
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise UserDataError("the CSV file is empty: it needs a header row and data")
    names = _header_names(header)
    if label not in names:
        raise UserDataError(
            f"label column {label!r} is not in the header. Choose one of {names}. "
            f"Received: label={label!r}",
            field="label",
        )
    label_index = names.index(label)
    feature_names = tuple(name for name in names if name != label)
    if not feature_names:
        raise UserDataError("the CSV file needs at least one feature column")
    rows, labels = [], []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, such as a trailing one
        _check_width(cells, names, reader.line_num)
        labels.append(_label_cell(cells[label_index], label, reader.line_num))
        features = [cell for i, cell in enumerate(cells) if i != label_index]
        rows.append(_numbers(features, feature_names, reader.line_num))
    features = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(names) - 1)
    return Table(features, _label_array(labels), feature_names, label)


def _decode(content: bytes) -> str:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _dialect(text: str) -> type[csv.Dialect]:
    sample = text[:_SNIFF_CHARS]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel  # one column, or too irregular to tell: assume commas


def _header_names(header: list[str]) -> list[str]:
    names = [cell.strip() for cell in header]
    if "" in names:
        column = names.index("") + 1
        raise UserDataError(f"the header has an empty name in column {column}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserDataError(f"the header repeats the column names {duplicates}")
    return names


def _check_width(cells: list[str], names: list[str], line: int) -> None:
    if len(cells) != len(names):
        raise UserDataError(
            f"line {line} has {len(cells)} fields but the header has {len(names)}"
        )


def _label_cell(cell: str, label: str, line: int) -> str:
    value = cell.strip()
    if not value or value.lower() == "nan":
        raise UserDataError(f"empty or NaN label at line {line}, column {label!r}")
    return value


def _numbers(cells: list[str], names: tuple[str, ...], line: int) -> list[float]:
    values = []
    for cell, name in zip(cells, names, strict=True):
        text = cell.strip()
        if not text:
            raise UserDataError(f"empty cell at line {line}, column {name!r}")
        try:
            value = float(text)
        except ValueError:
            raise UserDataError(
                f"non-numeric value {text[:40]!r} at line {line}, column {name!r}. "
                "Features must be numbers"
            ) from None
        if not math.isfinite(value):
            raise UserDataError(
                f"{text!r} at line {line}, column {name!r} is NaN "
                "or infinite; fill it in or drop the row"
            )
        values.append(value)
    return values


def _label_array(labels: list[str]) -> np.ndarray:
    try:
        numbers = np.asarray([float(value) for value in labels], dtype=np.float64)
    except ValueError:
        return np.asarray(labels, dtype=str)
    if not np.all(np.isfinite(numbers)):
        raise UserDataError("the label column contains an infinite value")
    return numbers


def parse_npz(content: bytes) -> Table:
    """Parses an NPZ archive with a feature array `x` and a label array `y`."""
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        message = f"the file is not a readable NPZ archive: {error}"
        raise UserDataError(message) from None
    missing = [name for name in ("x", "y") if name not in arrays]
    if missing:
        raise UserDataError(
            f"the NPZ archive needs arrays 'x' and 'y'. Missing: {missing}. "
            f"Received arrays: {sorted(arrays)}"
        )
    x, y = arrays["x"], arrays["y"]
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise UserDataError("x and y must be .npy arrays, as numpy.savez writes them")
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise UserDataError(
            "x must have shape (rows, features...) and y shape (rows,). "
            f"Received: x {x.shape}, y {y.shape}"
        )
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise UserDataError(f"x must hold real numbers. Received: dtype {x.dtype}")
    features = x.reshape(len(x), -1).astype(np.float32)
    _check_finite_array(features)
    names = tuple(f"x{i}" for i in range(features.shape[1]))
    return Table(features, _npz_labels(y), names, "y")


def _check_finite_array(features: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(features))
    if len(bad):
        row, column = (int(i) for i in bad[0])
        raise UserDataError(
            f"x contains {len(bad)} NaN or infinite values, the first at row {row}, "
            f"column {column}"
        )


def _npz_labels(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind not in "biuf":
        raise UserDataError(f"y must hold numbers or text. Received: dtype {y.dtype}")
    labels = y.astype(np.float64)
    if not np.all(np.isfinite(labels)):
        raise UserDataError("y contains NaN or infinite values")
    return labels


def infer_task(labels: np.ndarray) -> str:
    """Returns the task the labels suggest.

    Text labels, and integer-like numbers with at most `MAX_INFERRED_CLASSES`
    distinct values, mean classification; other numbers mean regression.
    """
    if labels.dtype.kind in "US":
        return catalog.CLASSIFICATION
    integer_like = bool(np.all(labels == np.round(labels)))
    if integer_like and len(np.unique(labels)) <= MAX_INFERRED_CLASSES:
        return catalog.CLASSIFICATION
    return catalog.REGRESSION


def encode_labels(labels: np.ndarray, task: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Returns int32 class indices and class names, or float32 regression targets."""
    check_task(task)
    if task == catalog.REGRESSION:
        if labels.dtype.kind in "US":
            raise UserDataError(
                "regression needs numeric labels. Received: text labels such as "
                f"{str(labels[0])!r}",
                field="task",
            )
        return labels.astype(np.float32), ()
    classes, indices = np.unique(labels, return_inverse=True)
    return indices.astype(np.int32), tuple(_class_name(value) for value in classes)


def _class_name(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def check_task(task: object) -> None:
    """Raises UserDataError unless `task` is "classification" or "regression"."""
    if task not in TASKS:
        raise UserDataError(
            f"task must be one of {list(TASKS)}. Received: task={task!r}", field="task"
        )


def validate_table(
    table: Table, task: str | None = None, min_rows: int = MIN_ROWS
) -> TableSummary:
    """Checks that `table` can be trained on and returns its summary.

    Args:
        table: a parsed table.
        task: "classification", "regression", or None to infer it.
        min_rows: fewest rows accepted.

    Raises:
        UserDataError: too few rows, a single class, or a class with one row (a
            stratified split needs two).
    """
    num_rows = len(table.features)
    if num_rows < min_rows:
        raise UserDataError(
            f"the table has {num_rows} data rows; at least {min_rows} are needed"
        )
    task = infer_task(table.labels) if task is None else task
    _, class_names = encode_labels(table.labels, task)
    if task == catalog.CLASSIFICATION:
        _check_classes(table.labels, class_names, table.label)
    return TableSummary(
        num_rows=num_rows,
        num_features=table.features.shape[1],
        task=task,
        num_classes=len(class_names) if class_names else None,
        class_names=class_names,
        feature_names=table.feature_names,
        label=table.label,
    )


def _check_classes(labels: np.ndarray, class_names: tuple[str, ...], label: str):
    if len(class_names) < 2:
        raise UserDataError(
            f"column {label!r} contains a single class ({class_names[0]!r}); "
            "classification needs at least two"
        )
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        lonely = class_names[int(np.argmin(counts))]
        raise UserDataError(
            f"class {lonely!r} of column {label!r} has a single row; every class "
            "needs at least two so that both splits can hold it"
        )


@dataclass(frozen=True)
class UserDatasetSource:
    """Points a training run at a stored table instead of a catalog dataset.

    Attributes:
        path: the CSV or NPZ file.
        label: the label column of a CSV file; None for NPZ.
        task: "classification", "regression", or None to infer it.
        name: what history and results call the dataset.
    """

    path: str
    label: str | None = None
    task: str | None = None
    name: str = "upload"

    def __post_init__(self) -> None:
        if self.task is not None:
            check_task(self.task)


def load_user_dataset(
    path: str | Path,
    label: str | None = None,
    task: str | None = None,
    validation_split: float = catalog.DEFAULT_VALIDATION_SPLIT,
    seed: int = catalog.DEFAULT_SEED,
    name: str | None = None,
):
    """Loads a CSV or NPZ file as a standardised `velo_core.datasets.Dataset`.

    Args:
        path: the file; a `.npz` name or zip content means NPZ.
        label: the label column of a CSV file; ignored for NPZ.
        task: "classification", "regression", or None to infer it.
        validation_split: fraction of the rows held out, in (0, 0.5].
        seed: seeds the shuffled split.
        name: the dataset's name in the result; None means the file name.

    Raises:
        UserDataError: when the file cannot be trained on.
    """
    from velo_core.datasets import split_dataset

    path = Path(path)
    content = path.read_bytes()
    table = parse_table(content, detect_format(path.name, content), label)
    summary = validate_table(table, task)
    targets, class_names = encode_labels(table.labels, summary.task)
    info = catalog.DatasetInfo(
        name=name or path.name,
        task=summary.task,
        num_samples=summary.num_rows,
        num_features=summary.num_features,
        num_classes=summary.num_classes,
        is_image_8x8=False,
    )
    return split_dataset(
        info, table.features, targets, class_names, validation_split, seed
    )
