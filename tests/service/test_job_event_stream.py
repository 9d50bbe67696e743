"""JobEventStream on scripted snapshots: keep-alive, requeue, database errors."""

import anyio
from sqlalchemy.exc import OperationalError

from api.job_events import KEEPALIVE, JobEventStream, JobSnapshot
from api.schemas import EpochRow, JobPublic

from .test_job_events import JOB


def snapshot(client, status, attempt, epochs=()) -> JobSnapshot:
    """Return a snapshot of a real job with its fields set as a worker would."""
    job = client.post("/jobs", json=JOB).json()
    job.update(status=status, attempt=attempt)
    rows = [
        EpochRow(
            epoch=e, loss=1.0, val_loss=1.0, accuracy=None, val_accuracy=None, seconds=1
        )
        for e in epochs
    ]
    return JobSnapshot(job=JobPublic.model_validate(job), epochs=rows)


class ScriptedReads:
    """Return the scripted snapshots in turn, recording each requested after_epoch."""

    def __init__(self, results):
        self.results = list(results)
        self.after_epochs = []

    def __call__(self, after_epoch):
        self.after_epochs.append(after_epoch)
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def collect(stream: JobEventStream) -> list[str]:
    async def run():
        return [chunk async for chunk in stream.events()]

    return anyio.run(run)


def names(chunks) -> list[str]:
    return [c.split("\n")[0] for c in chunks if not c.startswith("retry")]


def test_stream_sends_keepalive_while_idle(client):
    running = snapshot(client, "running", 1)
    reads = ScriptedReads([running] * 4 + [snapshot(client, "succeeded", 1)])
    chunks = collect(JobEventStream(1, reads, poll_seconds=0.01, keepalive_seconds=0))
    assert names(chunks).count(KEEPALIVE.split("\n")[0]) >= 3
    assert names(chunks)[-1] == "event: end"


def test_stream_restarts_epochs_after_requeue(client):
    reads = ScriptedReads(
        [
            snapshot(client, "running", 1, epochs=[1, 2]),
            snapshot(client, "running", 2, epochs=[]),
            snapshot(client, "running", 2, epochs=[1]),
            snapshot(client, "succeeded", 2),
        ]
    )
    collect(JobEventStream(1, reads, poll_seconds=0.01))
    assert reads.after_epochs == [0, 2, 0, 1]


def test_stream_survives_database_error(client):
    error = OperationalError("SELECT 1", {}, Exception("database is locked"))
    reads = ScriptedReads([error, snapshot(client, "succeeded", 1, epochs=[1])])
    chunks = collect(JobEventStream(1, reads, poll_seconds=0.01))
    assert names(chunks) == ["event: status", "event: epoch", "event: end"]
