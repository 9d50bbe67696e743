import io
import zipfile

import numpy as np
import pytest

from velo_core import user_data
from velo_core.user_data import UserDataError


def csv_bytes(rows, header="a,b,label", encoding="utf-8"):
    return (header + "\n" + "\n".join(rows) + "\n").encode(encoding)


def ten_rows():
    return [f"{i},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(10)]


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_csv_parses_features_and_labels():
    table = user_data.parse_csv(csv_bytes(ten_rows()), "label")
    assert table.features.shape == (10, 2)
    assert table.features.dtype == np.float32
    assert table.feature_names == ("a", "b")
    assert table.labels[1] == "cat"


def test_csv_label_column_in_middle():
    table = user_data.parse_csv(b"a,y,b\n1,0,2\n3,1,4\n", "y")
    assert table.features.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert table.labels.tolist() == [0.0, 1.0]


def test_csv_utf8_bom_header():
    content = b"\xef\xbb\xbf" + csv_bytes(ten_rows())
    assert user_data.parse_csv(content, "label").feature_names == ("a", "b")


def test_csv_utf16_with_bom():
    content = csv_bytes(ten_rows(), encoding="utf-16")
    assert user_data.parse_csv(content, "label").features.shape == (10, 2)


def test_csv_latin1_text_labels():
    content = csv_bytes(["1,2,caf\xe9", "3,4,th\xe9"], encoding="latin-1")
    assert user_data.parse_csv(content, "label").labels.tolist() == [
        "caf\xe9",
        "th\xe9",
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_detects_delimiter(delimiter):
    rows = [row.replace(",", delimiter) for row in ten_rows()]
    content = csv_bytes(rows, header=delimiter.join(["a", "b", "label"]))
    assert user_data.parse_csv(content, "label").features.shape == (10, 2)


def test_csv_quoted_fields():
    content = b'a,b,label\n"1","2","big, red"\n"3",4,"small"\n'
    assert user_data.parse_csv(content, "label").labels.tolist() == [
        "big, red",
        "small",
    ]


def test_csv_missing_label_column():
    with pytest.raises(UserDataError, match="label column 'kind' is not") as caught:
        user_data.parse_csv(csv_bytes(ten_rows()), "kind")
    assert caught.value.field == "label"


def test_csv_non_numeric_names_line_and_column():
    rows = ten_rows()
    rows[2] = "1,abc,dog"
    with pytest.raises(UserDataError, match="'abc' at line 4, column 'b'"):
        user_data.parse_csv(csv_bytes(rows), "label")


def test_csv_empty_cell():
    rows = ten_rows()
    rows[0] = "1,,dog"
    with pytest.raises(UserDataError, match="empty cell at line 2, column 'b'"):
        user_data.parse_csv(csv_bytes(rows), "label")


def test_csv_nan_cell():
    rows = ten_rows()
    rows[5] = "NaN,1,dog"
    with pytest.raises(UserDataError, match="line 7, column 'a' is NaN"):
        user_data.parse_csv(csv_bytes(rows), "label")


def test_csv_empty_label():
    rows = ten_rows()
    rows[3] = "1,2,"
    with pytest.raises(UserDataError, match="empty or NaN label at line 5"):
        user_data.parse_csv(csv_bytes(rows), "label")


def test_csv_short_row():
    with pytest.raises(UserDataError, match="line 2 has 2 fields"):
        user_data.parse_csv(b"a,b,label\n1,2\n", "label")


def test_csv_duplicate_header():
    with pytest.raises(UserDataError, match="repeats the column names"):
        user_data.parse_csv(b"a,a,label\n1,2,3\n", "label")


def test_csv_empty_file():
    with pytest.raises(UserDataError, match="empty"):
        user_data.parse_csv(b"", "label")


def test_npz_parses_and_flattens():
    content = npz_bytes(x=np.ones((12, 2, 3)), y=np.arange(12) % 2)
    table = user_data.parse_npz(content)
    assert table.features.shape == (12, 6)
    assert table.label == "y"


def test_npz_missing_array():
    with pytest.raises(UserDataError, match="Missing: \\['y'\\]"):
        user_data.parse_npz(npz_bytes(x=np.ones((3, 2))))


def test_npz_nan_names_position():
    x = np.ones((12, 2))
    x[4, 1] = np.nan
    with pytest.raises(UserDataError, match="first at row 4, column 1"):
        user_data.parse_npz(npz_bytes(x=x, y=np.arange(12) % 2))


def test_npz_truncated_archive():
    content = npz_bytes(x=np.ones((12, 2)), y=np.arange(12))
    with pytest.raises(UserDataError, match="not a readable NPZ"):
        user_data.parse_npz(content[: len(content) // 2])


def test_npz_rejects_object_arrays():
    content = npz_bytes(x=np.array([{"a": 1}] * 12), y=np.arange(12))
    with pytest.raises(UserDataError, match="not a readable NPZ"):
        user_data.parse_npz(content)


def test_npz_rejects_raw_members():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", b"not an array")
        archive.writestr("y.npy", b"not an array")
    with pytest.raises(UserDataError, match="must be .npy arrays"):
        user_data.parse_npz(buffer.getvalue())


def test_detect_format_by_content():
    assert user_data.detect_format("data.bin", npz_bytes(x=np.ones(2))) == "npz"
    assert user_data.detect_format("data.txt", b"a,b\n") == "csv"


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (np.array(["a", "b"]), "classification"),
        (np.array([0.0, 1.0, 2.0, 1.0]), "classification"),
        (np.array([0.5, 1.0, 2.0]), "regression"),
        (np.arange(50, dtype=np.float64), "regression"),
    ],
)
def test_infer_task(labels, task):
    assert user_data.infer_task(labels) == task


def test_encode_labels_classes_sorted():
    indices, names = user_data.encode_labels(
        np.array(["dog", "cat", "dog"]), "classification"
    )
    assert indices.tolist() == [1, 0, 1]
    assert names == ("cat", "dog")


def test_encode_labels_integer_names():
    _, names = user_data.encode_labels(np.array([2.0, 0.0]), "classification")
    assert names == ("0", "2")


def test_encode_labels_text_regression_rejected():
    with pytest.raises(UserDataError, match="regression needs numeric labels"):
        user_data.encode_labels(np.array(["a"]), "regression")


def test_validate_too_few_rows():
    table = user_data.parse_csv(csv_bytes(ten_rows()[:4]), "label")
    with pytest.raises(UserDataError, match="4 data rows; at least 10"):
        user_data.validate_table(table)


def test_validate_single_class():
    rows = [f"{i},{i},dog" for i in range(10)]
    table = user_data.parse_csv(csv_bytes(rows), "label")
    with pytest.raises(UserDataError, match="single class"):
        user_data.validate_table(table)


def test_validate_class_with_one_row():
    rows = ten_rows() + ["1,1,bird"]
    table = user_data.parse_csv(csv_bytes(rows), "label")
    with pytest.raises(UserDataError, match="class 'bird' .* has a single row"):
        user_data.validate_table(table)


def test_validate_summary():
    summary = user_data.validate_table(
        user_data.parse_csv(csv_bytes(ten_rows()), "label")
    )
    assert summary.task == "classification"
    assert summary.num_classes == 2
    assert summary.class_names == ("cat", "dog")


def test_validate_bad_task():
    table = user_data.parse_csv(csv_bytes(ten_rows()), "label")
    with pytest.raises(UserDataError, match="task must be one of") as caught:
        user_data.validate_table(table, task="ranking")
    assert caught.value.field == "task"


def test_load_user_dataset_splits_and_standardises(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "sensors.npz"
    np.savez(path, x=rng.normal(5.0, 3.0, (100, 4)), y=np.arange(100) % 3)
    dataset = user_data.load_user_dataset(path, validation_split=0.2)
    assert dataset.x_train.shape == (80, 4)
    assert dataset.x_val.shape == (20, 4)
    assert dataset.output_size == 3
    assert np.allclose(dataset.x_train.mean(axis=0), 0.0, atol=1e-5)
    assert dataset.info.name == "sensors.npz"


def test_load_user_dataset_regression_targets(tmp_path):
    path = tmp_path / "prices.csv"
    rows = [f"{i},{i * 0.5 + 0.25}" for i in range(40)]
    path.write_bytes(csv_bytes(rows, header="size,price"))
    dataset = user_data.load_user_dataset(path, "price", validation_split=0.25)
    assert dataset.info.task == "regression"
    assert dataset.output_size == 1
    assert dataset.y_train.dtype == np.float32
