import subprocess
import sys

import velo_core

PROBE = """
import sys
import velo_core
import velo_core.catalog
import velo_core.config
heavy = sorted({"jax", "keras", "tensorflow", "sklearn"} & set(sys.modules))
print(",".join(heavy))
"""


def test_import_velo_core_stays_light():
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def test_public_surface_names():
    assert velo_core.__all__ == [
        "DATASETS",
        "Dataset",
        "MODELS",
        "OptimizerInfo",
        "TrainConfig",
        "TrainResult",
        "TrainingDiverged",
        "build_model",
        "build_optimizer",
        "load_dataset",
        "steps_per_epoch",
        "train",
        "train_keras_model_with_velo",
    ]


def test_public_surface_names_resolve():
    for name in velo_core.__all__:
        assert getattr(velo_core, name) is not None, name


def test_public_surface_unknown_name_raises():
    try:
        velo_core.not_a_name  # noqa: B018
    except AttributeError as error:
        assert "not_a_name" in str(error)
    else:
        raise AssertionError("velo_core.not_a_name resolved")
