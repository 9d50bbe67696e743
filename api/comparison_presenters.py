"""Convert comparison rows into API responses, with the final-metrics table."""

from collections.abc import Sequence

from api.comparison_costs import cost_table
from api.comparison_schemas import (
    ComparisonPublic,
    ComparisonRunPublic,
    ComparisonRunSummary,
    ComparisonSummary,
    FinalMetricsRow,
)
from api.presenters import job_to_public
from api.schemas import EpochRow
from db.models import TERMINAL_STATUSES, Comparison, ComparisonRun, EpochRecord


def _final(run: ComparisonRunPublic, key: str) -> float | None:
    return (run.final_metrics or {}).get(key)


def best_adam_run(runs: Sequence[ComparisonRunPublic]) -> ComparisonRunPublic | None:
    """Return the succeeded Adam run with the lowest final training loss."""
    candidates = [
        run
        for run in runs
        if run.optimizer == "adam"
        and run.status == "succeeded"
        and _final(run, "loss") is not None
    ]
    return min(candidates, key=lambda run: _final(run, "loss"), default=None)


def _ratio(loss: float | None, best_loss: float | None) -> float | None:
    if loss is None or best_loss is None or best_loss <= 0:
        return None
    return loss / best_loss


def final_metrics_table(
    runs: Sequence[ComparisonRunPublic], best: ComparisonRunPublic | None
) -> list[FinalMetricsRow]:
    best_loss = _final(best, "loss") if best else None
    return [
        FinalMetricsRow(
            label=run.label,
            job_id=run.job_id,
            status=run.status,
            loss=_final(run, "loss"),
            val_loss=_final(run, "val_loss"),
            accuracy=_final(run, "accuracy"),
            val_accuracy=_final(run, "val_accuracy"),
            train_seconds=sum(row.seconds for row in run.history),
            loss_ratio_to_best_adam=_ratio(_final(run, "loss"), best_loss),
        )
        for run in runs
    ]


def run_to_public(
    run: ComparisonRun, history: list[EpochRecord]
) -> ComparisonRunPublic:
    job = job_to_public(run.job)
    return ComparisonRunPublic(
        label=run.label,
        job_id=job.id,
        optimizer=job.optimizer,
        learning_rate=job.config.learning_rate,
        status=job.status,
        failure_reason=job.failure_reason,
        progress=job.progress,
        final_metrics=job.final_metrics,
        duration_seconds=job.duration_seconds,
        history=[EpochRow.model_validate(row) for row in history],
    )


def _finished(comparison: Comparison) -> bool:
    return all(run.job.status in TERMINAL_STATUSES for run in comparison.runs)


def comparison_to_public(
    comparison: Comparison, histories: dict[int, list[EpochRecord]]
) -> ComparisonPublic:
    runs = [run_to_public(run, histories[run.job_id]) for run in comparison.runs]
    best = best_adam_run(runs)
    jobs = [(run.label, job_to_public(run.job)) for run in comparison.runs]
    return ComparisonPublic(
        id=comparison.id,
        name=comparison.name,
        kind=comparison.kind,
        created_at=comparison.created_at,
        finished=_finished(comparison),
        best_adam_label=best.label if best else None,
        runs=runs,
        table=final_metrics_table(runs, best),
        cost_table=cost_table(jobs, best.label if best else None),
    )


def comparison_to_summary(comparison: Comparison) -> ComparisonSummary:
    return ComparisonSummary(
        id=comparison.id,
        name=comparison.name,
        kind=comparison.kind,
        created_at=comparison.created_at,
        finished=_finished(comparison),
        runs=[
            ComparisonRunSummary(
                label=run.label, job_id=run.job_id, status=run.job.status
            )
            for run in comparison.runs
        ],
    )
