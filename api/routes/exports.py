"""Route for a trained job's model file (.keras, TFLite, int8 TFLite) or statistics."""

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
) -> Response:
    """Return the trained model (Keras, TFLite float32 or int8) or its statistics.

    The model takes standardised features: subtract the training split's mean and
    divide by its standard deviation first (the model files do not include that).
    `format=preprocessing` returns those statistics as a JSON file.
    """
    job = jobs.get_job(session, job_id, caller.scope)
    if format == PREPROCESSING:
        return _preprocessing_file(job)
    path = export.artifact_path(settings.artifacts_dir, f"job-{job_id}", format)
    if not path.exists():
        _check_succeeded(job)
        raise ModelFileMissing(
            f"job {job_id} has no {format} file: the export failed (the worker log "
            "names the reason) or the worker ran with VELOTRAIN_EXPORT_TFLITE=false"
        )
    return FileResponse(
        path,
        media_type=export.MEDIA_TYPES[format],
        filename=path.name,
    )


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
