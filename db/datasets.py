"""Store, list and delete uploaded datasets; a dataset in use by a job stays."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.jobs import ACTIVE_STATUSES
from db.models import Dataset, Job

# Jobs name an uploaded dataset "dataset-<id>" in their `dataset` column.
JOB_DATASET_PREFIX = "dataset-"


class DatasetNotFound(LookupError):
    """No dataset has the requested id (in the caller's project)."""


class DatasetInUse(RuntimeError):
    """A queued or running job trains on the dataset, so it cannot be deleted."""


def job_dataset_name(dataset_id: int) -> str:
    """Return what a job's `dataset` column holds for uploaded dataset `dataset_id`."""
    return f"{JOB_DATASET_PREFIX}{dataset_id}"


def add_dataset(session: Session, dataset: Dataset) -> Dataset:
    """Store `dataset` and return it with its id."""
    session.add(dataset)
    session.commit()
    session.refresh(dataset)
    return dataset


def get_dataset(session: Session, dataset_id: int, project: str | None) -> Dataset:
    """Return dataset `dataset_id`; `project` None means any project."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or (project is not None and dataset.project != project):
        raise DatasetNotFound(f"dataset {dataset_id} not found")
    return dataset


def list_datasets(
    session: Session, project: str | None, limit: int, offset: int
) -> tuple[Sequence[Dataset], int]:
    """Return one page of datasets, newest first, and the total count."""
    query = select(Dataset)
    if project is not None:
        query = query.where(Dataset.project == project)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(
        query.order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return page, int(total or 0)


def count_active_jobs_using(session: Session, dataset_id: int) -> int:
    """Count the queued and running jobs that train on dataset `dataset_id`."""
    query = select(func.count(Job.id)).where(
        Job.dataset == job_dataset_name(dataset_id),
        Job.status.in_(ACTIVE_STATUSES),
    )
    return int(session.scalar(query) or 0)


def delete_dataset(session: Session, dataset_id: int, project: str | None) -> Dataset:
    """Delete the row of dataset `dataset_id` and return it (for its file name).

    Raises DatasetInUse while a queued or running job trains on it. Ended jobs keep
    the dataset's name and sha256 in their configuration.
    """
    dataset = get_dataset(session, dataset_id, project)
    active = count_active_jobs_using(session, dataset_id)
    if active:
        raise DatasetInUse(
            f"dataset {dataset_id} is used by {active} queued or running jobs; "
            "delete it after they end or cancel them"
        )
    session.delete(dataset)
    session.commit()
    return dataset
