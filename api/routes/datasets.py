"""Routes for uploaded datasets: upload, list, read, delete."""

import hashlib
import logging
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import CallerDep
from api.dataset_schemas import DatasetList, DatasetPublic, Task
from api.deps import get_session, get_settings
from api.errors import COMMON_ERROR_RESPONSES
from api.job_config import InvalidField
from api.limits import LimitExceeded
from api.schemas import ErrorDetail
from db import datasets
from db.models import Dataset
from velo_core import user_data
from velotrain.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/datasets", tags=["datasets"], responses=COMMON_ERROR_RESPONSES
)

SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatasetId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOT_FOUND = {404: {"model": ErrorDetail, "description": "No such dataset here"}}
_READ_CHUNK_BYTES = 1024 * 1024


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic,
    responses={
        413: {"model": ErrorDetail, "description": "File over max_upload_bytes"},
        422: {"description": "The table cannot be trained on; the message says why"},
    },
)
def upload_dataset(
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="A CSV file or an NPZ archive")],
    label: Annotated[
        str | None, Form(max_length=200, description="Label column of a CSV file")
    ] = None,
    task: Annotated[
        Task | None, Form(description="Default: inferred from the labels")
    ] = None,
) -> DatasetPublic:
    """Validate a table and store it for jobs of the caller's project.

    CSV files need a header row and `label`, the label column's name. NPZ archives
    hold arrays `x` (rows, features) and `y` (rows,).
    """
    content = read_limited(file.file, settings.max_upload_bytes)
    name = (file.filename or "upload")[-200:]
    fmt = user_data.detect_format(name, content)
    summary = _validate(content, fmt, label, task, settings)
    sha256 = hashlib.sha256(content).hexdigest()
    file_name = f"{sha256}.{fmt}"
    settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    stored = settings.datasets_dir / file_name
    if not stored.exists():
        partial = stored.with_name(f"{file_name}.partial")
        partial.write_bytes(content)
        partial.replace(stored)
    row = Dataset(
        project=caller.project,
        name=name,
        format=fmt,
        label=label if fmt == user_data.CSV else None,
        task=summary.task,
        sha256=sha256,
        size_bytes=len(content),
        num_rows=summary.num_rows,
        num_features=summary.num_features,
        num_classes=summary.num_classes,
        class_names=list(summary.class_names),
        feature_names=list(summary.feature_names),
        file_name=file_name,
    )
    row = datasets.add_dataset(session, row)
    logger.info("dataset %s stored: %s", row.id, file_name)
    return DatasetPublic.model_validate(row)


def read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read an uploaded file; raise LimitExceeded (413) past `max_bytes`."""
    chunks, size = [], 0
    while chunk := stream.read(_READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise LimitExceeded(
                413, f"the file exceeds the limit of max_upload_bytes={max_bytes}"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _validate(
    content: bytes, fmt: str, label: str | None, task: str | None, settings: Settings
) -> user_data.TableSummary:
    try:
        table = user_data.parse_table(content, fmt, label)
        summary = user_data.validate_table(table, task)
    except user_data.UserDataError as error:
        logger.info("dataset upload rejected: %s", error.message)
        raise InvalidField(error.field, error.message) from None
    if summary.num_rows > settings.max_dataset_samples:
        raise InvalidField(
            "file",
            f"the table has {summary.num_rows} rows, over the limit of "
            f"max_dataset_samples={settings.max_dataset_samples}",
        )
    return summary


@router.get("", response_model=DatasetList)
def list_datasets(
    session: SessionDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> DatasetList:
    """List the caller's datasets, newest first."""
    page, total = datasets.list_datasets(session, caller.scope, limit, offset)
    return DatasetList(
        items=[DatasetPublic.model_validate(row) for row in page],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=NOT_FOUND)
def read_dataset(
    dataset_id: DatasetId, session: SessionDep, caller: CallerDep
) -> DatasetPublic:
    return DatasetPublic.model_validate(
        datasets.get_dataset(session, dataset_id, caller.scope)
    )


@router.delete(
    "/{dataset_id}",
    status_code=204,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorDetail, "description": "A queued or running job uses it"},
    },
)
def delete_dataset(
    dataset_id: DatasetId, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> Response:
    """Delete a dataset and, unless another upload has the same content, its file."""
    row = datasets.delete_dataset(session, dataset_id, caller.scope)
    shared = session.scalar(
        select(func.count(Dataset.id)).where(Dataset.file_name == row.file_name)
    )
    if not shared:
        (settings.datasets_dir / row.file_name).unlink(missing_ok=True)
    logger.info("dataset %s deleted", dataset_id)
    return Response(status_code=204)
