"""The reaper's repairs on a real database, with a recording stand-in for Celery."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery

from db import job_dispatch
from db import jobs as job_store
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade_to_head
from db.models import Job, utc_now
from tests.service.stack import embedded_env
from velotrain.settings import Settings
from worker import runner
from worker.celery_app import RUN_JOB_TASK, make_celery
from worker.reaper import CANCEL, FAIL, REQUEUE, Reaper, due_for_redelivery, judge

CONFIG = {"dataset": "iris", "model": "linear", "use_velo": False, "epochs": 3}


class RecordingCelery:
    """Stand in for Celery: record sent job ids, or fail like a dead broker.

    Queue depths are read from `broker`, a real Celery app, when one is given.
    """

    def __init__(self, broker_up: bool = True, broker: Celery | None = None) -> None:
        self.broker_up = broker_up
        self.broker = broker
        self.sent: list[int] = []
        self.queues: list[str] = []

    def send_task(self, _name, args, queue, retry):
        if not self.broker_up:
            raise ConnectionRefusedError("broker down")
        self.sent.append(args[0])
        self.queues.append(queue)

    def connection_for_read(self):
        if self.broker is None:
            raise ConnectionRefusedError("no broker")
        return self.broker.connection_for_read()


@pytest.fixture
def sessions(settings):
    return make_session_factory(make_engine(settings.resolved_database_url))


def fast_settings(settings, **changes):
    values = {"heartbeat_timeout_seconds": 10, "max_attempts": 3, **changes}
    return settings.model_copy(update=values)


def new_job(sessions, **fields) -> int:
    with sessions() as session:
        job_id = job_store.create_job(session, CONFIG, None, **fields).id
    job_dispatch.mark_enqueued(sessions, job_id)
    return job_id


def age_job(sessions, job_id, seconds, **fields) -> None:
    """Move the job's start and heartbeat `seconds` into the past."""
    past = utc_now() - timedelta(seconds=seconds)
    with sessions() as session:
        job = session.get(Job, job_id)
        job.started_at = past
        job.heartbeat_at = past
        for name, value in fields.items():
            setattr(job, name, value)
        session.commit()


def running(sessions, job_id) -> job_store.RunningJob:
    with sessions() as session:
        (job,) = [j for j in job_store.running_jobs(session) if j.id == job_id]
    return job


def read(sessions, job_id) -> Job:
    with sessions() as session:
        return job_store.get_job(session, job_id)


def test_judge_leaves_fresh_job_alone(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    assert judge(running(sessions, job_id), utc_now(), fast_settings(settings)) is None


def test_judge_requeues_silent_job(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11)
    verdict = judge(running(sessions, job_id), utc_now(), fast_settings(settings))
    assert verdict.action == REQUEUE


def test_judge_fails_silent_job_after_max_attempts(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11, attempt=3)
    verdict = judge(running(sessions, job_id), utc_now(), fast_settings(settings))
    assert verdict.action == FAIL
    assert verdict.reason.startswith("worker lost")
    assert "max_attempts=3" in verdict.reason


def test_judge_cancels_silent_job_with_cancel_request(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11, cancel_requested=True)
    verdict = judge(running(sessions, job_id), utc_now(), fast_settings(settings))
    assert verdict.action == CANCEL


def test_judge_times_out_job_past_its_limit(settings, sessions):
    job_id = new_job(sessions, time_limit_seconds=5)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 6, heartbeat_at=utc_now())
    verdict = judge(running(sessions, job_id), utc_now(), fast_settings(settings))
    assert verdict.action == FAIL
    assert verdict.reason.startswith("timed out")
    assert "5 s" in verdict.reason


def test_requeue_drops_lost_history_and_sends_again(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    job_store.record_epoch(sessions, job_id, {"epoch": 1, "seconds": 0.1}, 1)
    age_job(sessions, job_id, 11)
    celery = RecordingCelery()
    report = Reaper(fast_settings(settings), sessions, celery).run_once()
    job = read(sessions, job_id)
    assert report.requeued == [job_id]
    assert celery.sent == [job_id]
    assert job.status == "queued"
    assert job.epochs_done == 0
    assert job.enqueued_at is not None
    with sessions() as session:
        assert list(job_store.get_history(session, job_id)) == []


def test_next_claim_after_requeue_is_attempt_two(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11)
    Reaper(fast_settings(settings), sessions, RecordingCelery()).run_once()
    assert job_store.claim_job(sessions, job_id, "w2") == 2


def test_lost_attempt_can_no_longer_write(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11)
    Reaper(fast_settings(settings), sessions, RecordingCelery()).run_once()
    job_store.claim_job(sessions, job_id, "w2")
    stop = job_store.record_epoch(sessions, job_id, {"epoch": 1, "seconds": 0.1}, 1)
    ended = job_store.finish_job(sessions, job_id, "succeeded", attempt=1)
    assert stop
    assert not ended
    assert read(sessions, job_id).status == "running"
    assert read(sessions, job_id).epochs_done == 0


def test_reaper_fails_job_out_of_attempts(settings, sessions):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 11, attempt=3)
    report = Reaper(fast_settings(settings), sessions, RecordingCelery()).run_once()
    job = read(sessions, job_id)
    assert report.failed == [job_id]
    assert job.status == "failed"
    assert job.failure_reason.startswith("worker lost")


def test_unsent_job_is_sent_when_broker_returns(settings, sessions):
    with sessions() as session:
        job_id = job_store.create_job(session, CONFIG, None).id
    grace = fast_settings(settings, enqueue_grace_seconds=0)
    celery = RecordingCelery(broker_up=False)
    Reaper(grace, sessions, celery).run_once()
    assert read(sessions, job_id).enqueued_at is None
    celery.broker_up = True
    Reaper(grace, sessions, celery).run_once()
    assert celery.sent == [job_id]
    assert read(sessions, job_id).enqueued_at is not None


def test_unsent_job_waits_for_grace_period(settings, sessions):
    with sessions() as session:
        job_store.create_job(session, CONFIG, None)
    celery = RecordingCelery()
    Reaper(
        fast_settings(settings, enqueue_grace_seconds=60), sessions, celery
    ).run_once()
    assert celery.sent == []


@pytest.mark.slow
def test_reaper_command_requeues_lost_job(tmp_path):
    settings = Settings(data_dir=tmp_path / "var")
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    age_job(sessions, job_id, 61)
    env = embedded_env(tmp_path / "var")
    done = subprocess.run(
        [sys.executable, "-m", "velotrain.cli", "reaper", "--once"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"requeued=[{job_id}]" in done.stdout
    assert read(sessions, job_id).status == "queued"


def stale_job(sessions, seconds, **fields) -> int:
    """Store a queued job whose task the broker accepted `seconds` ago."""
    with sessions() as session:
        job_id = job_store.create_job(session, {**CONFIG, **fields}, None).id
        session.get(Job, job_id).enqueued_at = utc_now() - timedelta(seconds=seconds)
        session.commit()
    return job_id


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def queued(
    device="gpu", sent_seconds_ago: float | None = 601
) -> job_dispatch.QueuedJob:
    """Return a queued job sent `sent_seconds_ago` before NOW (None: never sent)."""
    sent_at = None
    if sent_seconds_ago is not None:
        sent_at = NOW - timedelta(seconds=sent_seconds_ago)
    return job_dispatch.QueuedJob(id=1, device=device, enqueued_at=sent_at)


def test_redelivery_due_for_old_task_on_empty_queue(settings):
    depths = {"cpu": 4, "gpu": 0}
    assert due_for_redelivery(queued(), NOW, depths, settings)


@pytest.mark.parametrize(
    ("job", "depths"),
    [
        (queued(sent_seconds_ago=599), {"gpu": 0}),
        (queued(), {"cpu": 0, "gpu": 2}),
        (queued(), None),
        (queued(sent_seconds_ago=None), {"gpu": 0}),
    ],
    ids=["recent", "queue-not-empty", "broker-unreachable", "never-sent"],
)
def test_redelivery_not_due(settings, job, depths):
    assert not due_for_redelivery(job, NOW, depths, settings)


def test_lost_task_is_sent_again_to_its_queue(settings, sessions):
    job_id = stale_job(sessions, 601, device="gpu")
    sent_before = read(sessions, job_id).enqueued_at
    celery = RecordingCelery(broker=make_celery(settings))
    report = Reaper(settings, sessions, celery).run_once()
    assert report.resent == [job_id]
    assert celery.queues == ["gpu"]
    assert read(sessions, job_id).enqueued_at > sent_before


def test_busy_queue_task_not_resent(settings, sessions):
    job_id = stale_job(sessions, 601, device="gpu")
    broker = make_celery(settings)
    # This message is the job's own task, still waiting behind a busy worker.
    broker.send_task(RUN_JOB_TASK, args=[job_id], queue="gpu")
    celery = RecordingCelery(broker=broker)
    report = Reaper(settings, sessions, celery).run_once()
    assert report.resent == []
    assert celery.sent == []


def test_lost_task_is_sent_by_one_reaper(settings, sessions):
    job_id = stale_job(sessions, 601)
    sent_at = read(sessions, job_id).enqueued_at
    assert job_dispatch.restamp_enqueued(sessions, job_id, sent_at)
    assert not job_dispatch.restamp_enqueued(sessions, job_id, sent_at)


def test_lost_task_waits_for_broker(settings, sessions):
    job_id = stale_job(sessions, 601)
    celery = RecordingCelery(broker_up=False, broker=make_celery(settings))
    report = Reaper(settings, sessions, celery).run_once()
    assert report.resent == []
    assert read(sessions, job_id).enqueued_at is None


def test_redelivered_ended_job_not_trained(settings, sessions, monkeypatch):
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "w")
    job_store.finish_job(sessions, job_id, "succeeded", attempt=1)
    trained = []
    monkeypatch.setattr(runner, "_sessions", sessions)
    monkeypatch.setattr(runner, "_run_attempt", lambda *args: trained.append(args))
    runner.run_job_by_id(job_id, settings)
    assert trained == []
    assert read(sessions, job_id).attempt == 1
