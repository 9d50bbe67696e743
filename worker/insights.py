"""Collect a finished job's results: confusion matrix, cost, device fit, scaling.

Scaling means the training split's statistics that standardise the model's data.

Imported only inside the worker's task, like the runner, so JAX starts in the
process that trains.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np

from velo_core.early_stopping import EarlyStopping
from velotrain.settings import Settings

logger = logging.getLogger(__name__)


def early_stopping_rule(config: dict[str, Any]) -> EarlyStopping | None:
    """Return the early-stopping rule of a job's resolved config, if it has one."""
    rule = config.get("early_stopping")
    return EarlyStopping(**rule) if rule else None


def collect_insights(
    result, settings: Settings, job_id: int, *, cancelled: bool
) -> dict[str, Any]:
    """Return the figures a job stores next to its final metrics.

    A cancelled job keeps only its executed steps and cost; the confusion matrix
    and the device fit describe finished models.
    """
    insights = {
        "steps_executed": result.steps_taken,
        "stopped_epoch": result.stopped_epoch,
        "best_epoch": result.best_epoch,
        "cost": result.cost.as_dict() if result.cost else None,
    }
    if cancelled:
        return insights
    from velo_core.evaluation import classification_report

    report = classification_report(result.model, result.dataset)
    insights["classification"] = report.as_dict() if report else None
    insights["preprocessing"] = preprocessing(result.dataset)
    if settings.measure_device_fit:
        keras_path = settings.artifacts_dir / f"job-{job_id}.keras"
        insights["device_fit"] = device_fit(result, keras_path, job_id)
    return insights


STANDARDISATION_FORMULA = (
    "(x - feature_mean) / feature_std; regression outputs: "
    "y = target_mean + target_std * output"
)


def preprocessing(dataset) -> dict[str, Any]:
    """Return the training split's statistics that standardise the model's data.

    The target statistics are None for classification, whose labels are not scaled.
    """
    from velo_core import catalog

    is_regression = dataset.info.task == catalog.REGRESSION
    return {
        "feature_mean": np.asarray(dataset.feature_mean, np.float32).tolist(),
        "feature_std": np.asarray(dataset.feature_std, np.float32).tolist(),
        "target_mean": float(dataset.target_mean) if is_regression else None,
        "target_std": float(dataset.target_std) if is_regression else None,
        "formula": STANDARDISATION_FORMULA,
    }


def device_fit(result, keras_path: Path, job_id: int) -> dict[str, Any]:
    """Measure the saved model's TFLite sizes and latency, or record why not.

    The same child process writes the TFLite and raw-input files, so the export
    after it (`worker.exports.export_artifacts`) starts no second TensorFlow.

    A failed conversion leaves the job succeeded; the figures then hold the reason.
    """
    from velo_core import device_fit as fit
    from velo_core.deployable import Preprocessing
    from velo_core.export import representative_sample

    param_count = int(result.model.count_params())
    if not keras_path.exists():
        return {"param_count": param_count, "error": "the model file was not saved"}
    try:
        sample = representative_sample(result.dataset.x_train)
        preprocessing = Preprocessing.from_dataset(result.dataset)
        return fit.measure_in_subprocess(
            keras_path, sample, preprocessing=preprocessing
        )
    except Exception as error:  # the job succeeded; only the device fit is missing
        reason = f"{error.__class__.__name__}: {error}"[:500]
        logger.warning("device fit failed: %s", reason, extra={"job_id": job_id})
        return {"param_count": param_count, "error": reason}
