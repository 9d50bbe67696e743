"""Turn a training request into the resolved job configuration, or say what is wrong."""

import math

from api.schemas import JobConfig, JobCreate
from velo_core import catalog
from velo_core.early_stopping import EarlyStopping


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


def resolve_job_config(request: JobCreate, max_epochs: int) -> JobConfig:
    """Validate `request` and fill in every default.

    Raises InvalidField naming the first invalid field and what it accepts.
    """
    _check("dataset", catalog.dataset_info, request.dataset)
    _check("model", catalog.model_preset, request.model)
    _check("model", catalog.check_model_for_dataset, request.model, request.dataset)
    _check(
        "hidden_sizes", catalog.check_hidden_sizes, request.model, request.hidden_sizes
    )
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
        task = catalog.dataset_info(request.dataset).task
        _check("early_stopping", rule.check_task, task)
    train_size = training_set_size(request.dataset, request.validation_split)
    batch_size = request.batch_size
    if batch_size != catalog.FULL_BATCH:
        batch_size = min(int(batch_size), train_size)
    hidden_sizes = request.hidden_sizes
    if request.model == "mlp" and hidden_sizes is None:
        hidden_sizes = list(catalog.DEFAULT_HIDDEN_SIZES)
    return JobConfig(
        dataset=request.dataset,
        model=request.model,
        hidden_sizes=hidden_sizes,
        use_velo=request.use_velo,
        epochs=request.epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        validation_split=request.validation_split,
        seed=request.seed,
        train_size=train_size,
        early_stopping=request.early_stopping,
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
