"""Route for a trained job's model file: .keras, TFLite or int8 TFLite."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from api.auth import CallerDep
from api.deps import get_session, get_settings
from api.errors import COMMON_ERROR_RESPONSES, ModelFileMissing
from api.schemas import ErrorDetail
from db import jobs
from db.jobs import JobStateConflict
from velo_core import export
from velotrain.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_ERROR_RESPONSES)

ExportFormat = Literal["keras", "tflite", "tflite-int8"]


@router.get(
    "/{job_id}/model",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
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
) -> FileResponse:
    """Return the trained model: Keras, TFLite float32 or TFLite int8.

    The model takes standardised features: subtract the training split's mean and
    divide by its standard deviation first (the TFLite files do not include that).
    """
    job = jobs.get_job(session, job_id, caller.scope)
    path = export.artifact_path(settings.artifacts_dir, f"job-{job_id}", format)
    if not path.exists():
        if job.status != "succeeded":
            raise JobStateConflict(
                f"job {job_id} is {job.status}; its model is exported when it succeeds"
            )
        raise ModelFileMissing(
            f"job {job_id} has no {format} file: the export failed (the worker log "
            "names the reason) or the worker ran with VELOTRAIN_EXPORT_TFLITE=false"
        )
    return FileResponse(
        path,
        media_type=export.MEDIA_TYPES[format],
        filename=path.name,
    )
