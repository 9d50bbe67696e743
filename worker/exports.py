"""Write a trained job's TFLite files next to its .keras file, in a child process."""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def export_artifacts(keras_path: Path, x_train, job_id: int) -> None:
    """Write the float32 and int8 TFLite files unless they exist already.

    A failed export leaves the job as it is; GET /jobs/{id}/model then returns 404
    for the missing format, and the log line contains the reason.
    """
    from velo_core import export

    stem = keras_path.name.removesuffix(".keras")
    expected = [
        export.artifact_path(keras_path.parent, stem, fmt)
        for fmt in (export.TFLITE, export.TFLITE_INT8)
    ]
    if not keras_path.exists() or all(path.exists() for path in expected):
        return
    try:
        export.export_in_subprocess(keras_path, export.representative_sample(x_train))
    except Exception as error:  # the job still succeeded; only the export is missing
        reason = f"{error.__class__.__name__}: {error}"[:500]
        logger.error("TFLite export failed: %s", reason, extra={"job_id": job_id})
    else:
        logger.info("TFLite files written", extra={"job_id": job_id})
