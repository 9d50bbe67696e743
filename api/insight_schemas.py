"""Request and response models of a job's results beyond the final loss.

Early stopping, the confusion matrix on the validation split, the cost breakdown of
the training loop, the fit of the trained model to a small device and the statistics
that standardise its inputs.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EarlyStoppingRequest(BaseModel):
    """Stop when the monitored metric stops improving; keep the best weights."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(
        default=5,
        ge=1,
        le=1_000_000,
        description="Epochs in a row without improvement before stopping",
    )
    min_delta: float = Field(
        default=0.0,
        ge=0.0,
        allow_inf_nan=False,
        description="Smallest change of the metric that counts as an improvement",
    )
    monitor: Literal["val_loss", "loss", "val_accuracy"] = Field(
        default="val_loss",
        description="Metric to watch; val_accuracy for classification only",
    )


class ClassificationPublic(BaseModel):
    """Predictions on the validation split per class, from the returned weights."""

    label_names: list[str]
    confusion_matrix: list[list[int]] = Field(
        description="Counts; row = true class, column = predicted class"
    )
    precision: list[float] = Field(description="Per class; 0 if never predicted")
    recall: list[float] = Field(description="Per class")
    f1: list[float] = Field(description="Per class; 0 when precision + recall is 0")
    support: list[int] = Field(description="Validation samples per class")


class CostPublic(BaseModel):
    """Time split of the training loop, and the memory it used."""

    loop_seconds: float = Field(
        description="Wall time of all epochs, compilation included"
    )
    compile_seconds: float = Field(
        description="Epoch 1 seconds minus a steady-state epoch (the median of the "
        "later epochs)"
    )
    gradient_seconds: float = Field(
        description="Time computing gradients: the loop time after compilation, "
        "split in the proportions of separately jitted gradient, update and "
        "validation calls timed after training (the loop fuses them)"
    )
    update_seconds: float = Field(
        description="Time in optimizer updates (Adam or VeLO), split the same way"
    )
    evaluation_seconds: float = Field(
        description="Time in the validation passes of each epoch, split the same way"
    )
    peak_memory_bytes: int = Field(
        description="Peak resident memory of the worker process (ru_maxrss); a "
        "process peak, which earlier jobs of the same worker can have set"
    )
    optimizer_state_bytes: int = Field(
        description="Size of the optimizer state's arrays"
    )
    method: str = Field(description="How the time figures were obtained")


class DeviceFitPublic(BaseModel):
    """Whether the trained model fits a small device, measured on the worker."""

    param_count: int | None = None
    tflite_float32_bytes: int | None = None
    tflite_int8_bytes: int | None = None
    latency_ms_median: float | None = Field(
        default=None,
        description="Median latency of one single-sample inference through the "
        "TFLite interpreter (float32 model) on the worker's CPU",
    )
    latency_runs: int | None = None
    measured_on: str | None = Field(
        default=None, description="The host that measured: hostname and CPU model"
    )
    error: str | None = Field(
        default=None, description="Why conversion or measurement failed, if it did"
    )


class PreprocessingPublic(BaseModel):
    """The training split's statistics the model's inputs and outputs are scaled by.

    The model takes standardised features: compute (x - feature_mean) / feature_std
    per feature before inference. A regression model predicts standardised targets:
    y = target_mean + target_std * output.
    """

    feature_mean: list[float] = Field(description="Per feature, in input order")
    feature_std: list[float] = Field(
        description="Per feature, 1 for features constant in the training split"
    )
    target_mean: float | None = Field(
        default=None, description="Regression only, null for classification"
    )
    target_std: float | None = Field(
        default=None, description="Regression only, null for classification"
    )
    formula: str = Field(description="How the statistics are applied")
