"""Write a trained job's TFLite and raw-input files next to its .keras file.

All files are converted in one child process, so the worker never keeps TensorFlow
loaded. The device-fit child usually writes them first, and then nothing is left here.
"""

import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def export_artifacts(keras_path: Path, dataset, job_id: int) -> None:
    """Write the TFLite files and the raw-input variants unless they exist already.

    `dataset` is the job's `velo_core.datasets.Dataset`: its training split
    calibrates the int8 files and its statistics go into the raw-input files.
    A failed export leaves the job as it is; GET /jobs/{id}/model then returns 404
    for the missing file, and the log line contains the reason.
    """
    from velo_core import export
    from velo_core.deployable import Preprocessing

    stem = keras_path.name.removesuffix(".keras")
    if not keras_path.exists() or export.is_exported(keras_path.parent, stem):
        return
    started = time.perf_counter()
    try:
        export.export_in_subprocess(
            keras_path,
            export.representative_sample(dataset.x_train),
            preprocessing=Preprocessing.from_dataset(dataset),
        )
    except Exception as error:  # the job still succeeded; only the export is missing
        reason = f"{error.__class__.__name__}: {error}"[:500]
        logger.error("TFLite export failed: %s", reason, extra={"job_id": job_id})
    else:
        seconds = round(time.perf_counter() - started, 2)
        extra = {"job_id": job_id, "seconds": seconds}
        logger.info("TFLite and raw-input files written", extra=extra)
