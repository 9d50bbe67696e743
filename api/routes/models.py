"""Route for uploading a `.keras` model to train instead of a preset.

The file is loaded in a child process with Keras safe mode on, so the API process
never imports Keras or JAX and no code inside the file runs.
"""

import hashlib
import io
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile

from api.auth import CallerDep
from api.dataset_schemas import ModelUploadPublic
from api.deps import get_settings
from api.errors import COMMON_ERROR_RESPONSES
from api.job_config import InvalidField
from api.routes.datasets import read_limited
from api.schemas import ErrorDetail
from api.user_sources import model_upload_paths
from velotrain.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/models", tags=["models"], responses=COMMON_ERROR_RESPONSES)

# Loading Keras and JAX in the child takes about 5 s on one CPU core.
CHECK_TIMEOUT_SECONDS = 120


@router.post(
    "",
    status_code=201,
    response_model=ModelUploadPublic,
    responses={
        413: {"model": ErrorDetail, "description": "File over max_upload_bytes"},
        422: {"description": "Broken or unsafe file; the message says why"},
    },
)
def upload_model(
    _caller: CallerDep,
    settings: Annotated[Settings, Depends(get_settings)],
    file: Annotated[UploadFile, File(description="A model saved with model.save")],
) -> ModelUploadPublic:
    """Check and store a `.keras` model; a job trains it with `{"upload": sha256}`."""
    content = read_limited(file.file, settings.max_upload_bytes)
    sha256 = hashlib.sha256(content).hexdigest()
    keras_path, summary_path = model_upload_paths(settings, sha256)
    if not summary_path.exists():
        _check_archive(content)
        summary = _check_in_child(content)
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        keras_path.write_bytes(content)
        summary_path.write_text(json.dumps(summary))
        logger.info("model %s stored", sha256)
    summary = json.loads(summary_path.read_text())
    return ModelUploadPublic(sha256=sha256, size_bytes=len(content), **summary)


def _check_archive(content: bytes) -> None:
    # A .keras file is a zip archive with config.json; checking that here spares
    # a child process for files that are plainly something else.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        names = []
    if "config.json" not in names:
        raise InvalidField(
            "file",
            "the file is not a .keras model: a zip archive with config.json, as "
            "model.save('model.keras') writes it",
        )


def _check_in_child(content: bytes) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "upload.keras"
        path.write_bytes(content)
        command = [sys.executable, "-m", "velo_core.layer_spec", str(path)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            raise InvalidField(
                "file", f"checking the model took over {CHECK_TIMEOUT_SECONDS} s"
            ) from None
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        logger.error("model check failed: %s", done.stderr.strip()[-500:])
        raise InvalidField("file", "the model could not be checked") from None
    if "error" in result:
        logger.info("model upload rejected: %s", result["error"])
        raise InvalidField("file", result["error"])
    return result
