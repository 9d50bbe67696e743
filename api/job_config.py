"""Resolve a training request into a job configuration, or reject an invalid field."""

import math
from typing import TYPE_CHECKING

from api.schemas import JobConfig, JobCreate
from velo_core import catalog
from velo_core.early_stopping import EarlyStopping

if TYPE_CHECKING:
    from api.user_sources import UserSources


class InvalidField(ValueError):
    """A request field holds a value the service does not accept."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def training_set_size(dataset: str, validation_split: float) -> int:
    """Count the training samples left after the validation split."""
    num_samples = catalog.dataset_info(dataset).num_samples
    return num_samples - math.ceil(validation_split * num_samples)


def _check(field: str, check, *args) -> None:
    try:
        check(*args)
    except ValueError as error:
        raise InvalidField(field, str(error)) from None


def resolve_job_config(
    request: JobCreate,
    max_epochs: int,
    sources: "UserSources | None" = None,
    *,
    default_device: str,
) -> JobConfig:
    """Validate `request` and fill in every default.

    `sources` holds the uploaded dataset and custom model that `request` names
    (see `api.user_sources.resolve_sources`); `default_device` is the queue of a
    request that names none (the server's job_queue). Raises InvalidField naming
    the first invalid field and what it accepts.
    """
    from api.user_sources import UserSources, model_fields

    sources = sources or UserSources()
    info = sources.dataset_info() or _catalog_info(request.dataset)
    if isinstance(request.model, str):
        _check_preset(request, info)
    elif request.hidden_sizes is not None:
        raise InvalidField(
            "hidden_sizes",
            "hidden_sizes applies only to model 'mlp'; a layer spec or uploaded "
            f"model sets its own layers. Received: hidden_sizes={request.hidden_sizes}",
        )
    model = model_fields(request, info, sources)
    if not 1 <= request.epochs <= max_epochs:
        raise InvalidField(
            "epochs",
            f"epochs must be between 1 and {max_epochs}. "
            f"Received: epochs={request.epochs}",
        )
    _check("batch_size", catalog.check_batch_size, request.batch_size)
    _check("validation_split", catalog.check_validation_split, request.validation_split)
    _check("seed", catalog.check_seed, request.seed)
    learning_rate = _resolve_learning_rate(request)
    if request.early_stopping is not None:
        rule = EarlyStopping(**request.early_stopping.model_dump())
        _check("early_stopping", rule.check_task, info.task)
    _check("validation_split", _check_split, info, request.validation_split)
    num_val = math.ceil(request.validation_split * info.num_samples)
    train_size = info.num_samples - num_val
    batch_size = request.batch_size
    if batch_size != catalog.FULL_BATCH:
        batch_size = min(int(batch_size), train_size)
    hidden_sizes = request.hidden_sizes
    if request.model == "mlp" and hidden_sizes is None:
        hidden_sizes = list(catalog.DEFAULT_HIDDEN_SIZES)
    return JobConfig(
        dataset=info.name,
        **model,
        user_dataset=sources.dataset,
        hidden_sizes=hidden_sizes,
        use_velo=request.use_velo,
        epochs=request.epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        validation_split=request.validation_split,
        seed=request.seed,
        train_size=train_size,
        early_stopping=request.early_stopping,
        device=request.device or default_device,
    )


def _catalog_info(dataset: object) -> catalog.DatasetInfo:
    try:
        return catalog.dataset_info(dataset)
    except ValueError as error:
        raise InvalidField("dataset", str(error)) from None


def _check_preset(request: JobCreate, info: catalog.DatasetInfo) -> None:
    _check("model", catalog.model_preset, request.model)
    if info.name in catalog.DATASETS:
        _check("model", catalog.check_model_for_dataset, request.model, info.name)
    elif catalog.model_preset(request.model).needs_images:
        raise InvalidField(
            "model",
            f"model {request.model!r} needs 8x8 image inputs; dataset {info.name!r} "
            f"has {info.num_features} features. Received: model={request.model!r}",
        )
    _check(
        "hidden_sizes", catalog.check_hidden_sizes, request.model, request.hidden_sizes
    )


def _check_split(info: catalog.DatasetInfo, validation_split: float) -> None:
    # A stratified split needs at least one sample of every class on both sides.
    num_val = math.ceil(info.num_samples * validation_split)
    if info.num_classes and num_val < info.num_classes:
        raise ValueError(
            f"validation_split must hold out at least one sample per class "
            f"({info.num_classes} of {info.num_samples} samples for {info.name!r}). "
            f"Received: validation_split={validation_split}"
        )


def _resolve_learning_rate(request: JobCreate) -> float | None:
    if request.use_velo:
        if request.learning_rate is not None:
            raise InvalidField(
                "learning_rate",
                "learning_rate applies to Adam only; VeLO sets its own step sizes. "
                "Remove learning_rate or set use_velo to false. "
                f"Received: learning_rate={request.learning_rate}",
            )
        return None
    if request.learning_rate is None:
        return catalog.DEFAULT_LEARNING_RATE
    _check("learning_rate", catalog.check_learning_rate, request.learning_rate)
    return request.learning_rate


def resolve_time_limit(request: JobCreate, max_seconds: int) -> int:
    """Return the job's time limit: the requested one, or the server's maximum."""
    if request.time_limit_seconds is None:
        return max_seconds
    if not 1 <= request.time_limit_seconds <= max_seconds:
        raise InvalidField(
            "time_limit_seconds",
            f"time_limit_seconds must be between 1 and job_time_limit_seconds="
            f"{max_seconds}. Received: time_limit_seconds={request.time_limit_seconds}",
        )
    return request.time_limit_seconds
