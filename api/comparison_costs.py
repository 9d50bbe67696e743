"""Build the comparison's cost table: time, optimizer share and size of each run.

It lets a reader see at a glance what VeLO's result cost next to the best Adam run.
"""

from collections.abc import Sequence

from api.comparison_schemas import CostRow
from api.schemas import JobPublic


def _steady_seconds(job: JobPublic) -> float | None:
    if job.cost is None:
        return None
    return job.cost.loop_seconds - job.cost.compile_seconds


def _seconds_per_epoch(job: JobPublic) -> float | None:
    steady = _steady_seconds(job)
    epochs = job.progress.epochs_done
    if steady is None or epochs < 1:
        return None
    return steady / epochs


def _optimizer_share(job: JobPublic) -> float | None:
    steady = _steady_seconds(job)
    if not steady or job.cost is None:
        return None
    return job.cost.update_seconds / steady


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def cost_row(label: str, job: JobPublic, best: JobPublic | None) -> CostRow:
    """Return the cost-table line of run `label`; ratios are to run `best`."""
    metrics = job.final_metrics or {}
    fit = job.device_fit
    loop = job.cost.loop_seconds if job.cost else None
    best_loop = best.cost.loop_seconds if best is not None and best.cost else None
    return CostRow(
        label=label,
        job_id=job.id,
        optimizer=job.optimizer,
        status=job.status,
        val_loss=metrics.get("val_loss"),
        val_accuracy=metrics.get("val_accuracy"),
        train_seconds=loop,
        compile_seconds=job.cost.compile_seconds if job.cost else None,
        seconds_per_epoch=_seconds_per_epoch(job),
        optimizer_share=_optimizer_share(job),
        optimizer_state_bytes=job.cost.optimizer_state_bytes if job.cost else None,
        param_count=fit.param_count if fit else None,
        tflite_float32_bytes=fit.tflite_float32_bytes if fit else None,
        time_ratio_to_best_adam=_ratio(loop, best_loop),
    )


def cost_table(
    runs: Sequence[tuple[str, JobPublic]], best_label: str | None
) -> list[CostRow]:
    """Return one cost-table line per (label, job) run."""
    best = next((job for label, job in runs if label == best_label), None)
    return [cost_row(label, job, best) for label, job in runs]
