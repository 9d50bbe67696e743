"""Route for a trained job's model file (.keras, TFLite, int8 TFLite) or statistics.

Every model file has two variants: the default takes standardised features, the
raw-input one (`inputs=raw`) takes raw features and returns class logits or targets
in their own unit.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from api.auth import CallerDep
from api.deps import get_session, get_settings
from api.errors import COMMON_ERROR_RESPONSES, ModelFileMissing
from api.schemas import ErrorDetail
from db import jobs
from db.jobs import JobStateConflict
from db.models import Job
from velo_core import export
from velotrain.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_ERROR_RESPONSES)

# "preprocessing" is not a model file, because its statistics are stored on the job.
ExportFormat = Literal["keras", "tflite", "tflite-int8", "preprocessing"]
PREPROCESSING = "preprocessing"
ModelInputs = Literal["standardised", "raw"]
INPUTS_DESCRIPTION = (
    "`standardised` (default): the model takes `(x - feature_mean) / feature_std` "
    "and a regression model returns standardised targets. `raw`: the model takes "
    "the feature values as in the uploaded file and returns class logits, or "
    "targets in their own unit. Ignored for `format=preprocessing`."
)


@router.get(
    "/{job_id}/model",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}, "application/json": {}}},
        404: {"model": ErrorDetail, "description": "No such job or model file"},
        409: {"model": ErrorDetail, "description": "The job has not succeeded"},
    },
)
def download_model(
    job_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: Annotated[Session, Depends(get_session)],
    caller: CallerDep,
    settings: Annotated[Settings, Depends(get_settings)],
    format: Annotated[ExportFormat, Query()] = "keras",
    inputs: Annotated[ModelInputs, Query(description=INPUTS_DESCRIPTION)] = (
        "standardised"
    ),
) -> Response:
    """Return the trained model (Keras, TFLite float32 or int8) or its statistics.

    With `inputs=standardised` (the default) the model takes standardised
    features: subtract the training split's mean and divide by its standard
    deviation first; a regression model returns standardised targets, which
    `target_mean + target_std * output` maps back. `format=preprocessing` returns
    those statistics as a JSON file.

    With `inputs=raw` the file holds the same model with that preprocessing
    inside: it takes the raw feature values, as in the uploaded file, and returns
    class logits, or regression targets in their own unit. Its int8 file is
    calibrated on raw features and quantises all of them with one scale. If it
    then agrees with the float32 file on under 95% of the calibration rows, it
    is not kept, and the 404 gives the reason.
    """
    job = jobs.get_job(session, job_id, caller.scope)
    if format == PREPROCESSING:
        return _preprocessing_file(job)
    stem = f"job-{job_id}"
    path = export.artifact_path(settings.artifacts_dir, stem, format, inputs)
    if not path.exists():
        _check_succeeded(job)
        rejected = export.raw_int8_rejection_path(settings.artifacts_dir, stem)
        if inputs == export.RAW and format == "tflite-int8" and rejected.exists():
            raise ModelFileMissing(
                f"job {job_id} has no raw-input tflite-int8 file: "
                f"{rejected.read_text().strip()}"
            )
        raise ModelFileMissing(_missing_file_reason(job_id, format, inputs))
    return FileResponse(
        path,
        media_type=export.MEDIA_TYPES[format],
        filename=path.name,
    )


def _missing_file_reason(job_id: int, format: str, inputs: str) -> str:
    causes = [
        "the export failed (the worker log names the reason)",
        "the worker ran with VELOTRAIN_EXPORT_TFLITE=false",
    ]
    variant = ""
    if inputs == export.RAW:
        variant = "raw-input "
        causes.append("the job succeeded before the service exported raw-input files")
    return f"job {job_id} has no {variant}{format} file: " + "; or ".join(causes)


def _check_succeeded(job: Job) -> None:
    if job.status != "succeeded":
        raise JobStateConflict(
            f"job {job.id} is {job.status}; its model is exported when it succeeds"
        )


def _preprocessing_file(job: Job) -> JSONResponse:
    _check_succeeded(job)
    if job.preprocessing is None:
        raise ModelFileMissing(
            f"job {job.id} has no preprocessing statistics because it succeeded "
            "before the service recorded them. Train it again to get them."
        )
    filename = f"job-{job.id}.preprocessing.json"
    return JSONResponse(
        job.preprocessing,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
