"""Store comparisons: sets of jobs whose curves are drawn on one chart.

A sweep comparison creates its jobs and itself in one transaction, so either all of
them exist or none does.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from db.jobs import new_job
from db.models import DEFAULT_PROJECT, Comparison, ComparisonRun, EpochRecord, Job

SWEEP = "sweep"
CHOSEN_JOBS = "jobs"


class ComparisonNotFound(LookupError):
    """No comparison has the requested id."""


@dataclass(frozen=True)
class ComparisonPage:
    items: Sequence[Comparison]
    total: int


def run_label(optimizer: str, learning_rate: float | None) -> str:
    """Name a run by its optimizer, and for Adam its learning rate: adam_0.001."""
    if optimizer == "velo" or learning_rate is None:
        return optimizer
    return f"{optimizer}_{learning_rate!r}"


def label_runs(jobs: Sequence[Job]) -> list[str]:
    """Label each job by `run_label`, adding _job<id> where two labels would match."""
    labels = [run_label(job.optimizer, job.config.get("learning_rate")) for job in jobs]
    counts = Counter(labels)
    return [
        f"{label}_job{job.id}" if counts[label] > 1 else label
        for label, job in zip(labels, jobs, strict=True)
    ]


def create_sweep(
    session: Session,
    configs: Sequence[dict[str, Any]],
    name: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    time_limit_seconds: int | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> Comparison:
    """Create one queued job per resolved config and a comparison linking them.

    Raises IntegrityError when `idempotency_key` is taken in `project`; nothing is
    stored then.
    """
    comparison = Comparison(
        name=name,
        kind=SWEEP,
        project=project,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )
    session.add(comparison)
    session.flush()
    jobs = [
        new_job(config, project=project, time_limit_seconds=time_limit_seconds)
        for config in configs
    ]
    session.add_all(jobs)
    session.flush()
    for position, (job, label) in enumerate(zip(jobs, label_runs(jobs), strict=True)):
        job.name = f"comparison {comparison.id}: {label}"
        comparison.runs.append(ComparisonRun(job=job, label=label, position=position))
    session.commit()
    return comparison


def missing_job_ids(
    session: Session, job_ids: Iterable[int], project: str | None = None
) -> list[int]:
    """Return the ids in `job_ids` that no job of `project` (None: any) has."""
    requested = list(job_ids)
    query = select(Job.id).where(Job.id.in_(requested))
    if project is not None:
        query = query.where(Job.project == project)
    found = set(session.scalars(query))
    return [job_id for job_id in requested if job_id not in found]


def create_from_jobs(
    session: Session,
    job_ids: Sequence[int],
    name: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
) -> Comparison:
    """Create a comparison of existing jobs, in the order of `job_ids`.

    Raises IntegrityError when `idempotency_key` is taken in `project`.
    """
    jobs = [session.get_one(Job, job_id) for job_id in job_ids]
    comparison = Comparison(
        name=name,
        kind=CHOSEN_JOBS,
        project=project,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )
    for position, (job, label) in enumerate(zip(jobs, label_runs(jobs), strict=True)):
        comparison.runs.append(ComparisonRun(job=job, label=label, position=position))
    session.add(comparison)
    session.commit()
    return comparison


def find_by_idempotency_key(
    session: Session, project: str, key: str
) -> Comparison | None:
    """Return the comparison `project` created with Idempotency-Key `key`, if any."""
    return session.scalar(
        select(Comparison).where(
            Comparison.project == project, Comparison.idempotency_key == key
        )
    )


def _with_runs():
    return selectinload(Comparison.runs).selectinload(ComparisonRun.job)


def get_comparison(
    session: Session, comparison_id: int, project: str | None = None
) -> Comparison:
    """Return comparison `comparison_id`; one of another project is not found.

    `project` None reads any project.
    """
    comparison = session.scalar(
        select(Comparison).where(Comparison.id == comparison_id).options(_with_runs())
    )
    if comparison is None or project not in (None, comparison.project):
        raise ComparisonNotFound(f"Comparison {comparison_id} not found")
    return comparison


def list_comparisons(
    session: Session,
    *,
    project: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ComparisonPage:
    """List the comparisons of `project` (None: all), newest first."""
    query = select(Comparison)
    if project is not None:
        query = query.where(Comparison.project == project)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.options(_with_runs())
        .order_by(Comparison.created_at.desc(), Comparison.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return ComparisonPage(items=items, total=int(total or 0))


def histories(session: Session, job_ids: Iterable[int]) -> dict[int, list[EpochRecord]]:
    """Return each job's epoch rows in epoch order, keyed by job id."""
    requested = list(job_ids)
    rows = session.scalars(
        select(EpochRecord)
        .where(EpochRecord.job_id.in_(requested))
        .order_by(EpochRecord.job_id, EpochRecord.epoch)
    ).all()
    by_job: dict[int, list[EpochRecord]] = {job_id: [] for job_id in requested}
    for row in rows:
        by_job[row.job_id].append(row)
    return by_job
