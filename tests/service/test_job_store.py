import math

from db import jobs as job_store
from db.engine import make_engine, make_session_factory

CONFIG = {"dataset": "iris", "model": "linear", "use_velo": False, "epochs": 3}


def make_sessions(settings):
    return make_session_factory(make_engine(settings.resolved_database_url))


def new_job(sessions):
    with sessions() as session:
        return job_store.create_job(session, CONFIG, None).id


def test_claim_is_granted_once(settings):
    sessions = make_sessions(settings)
    job_id = new_job(sessions)
    assert job_store.claim_job(sessions, job_id, "worker-a")
    assert not job_store.claim_job(sessions, job_id, "worker-b")
    with sessions() as session:
        job = job_store.get_job(session, job_id)
    assert job.worker == "worker-a"
    assert job.attempt == 1


def test_non_finite_metrics_are_stored_as_null(settings):
    sessions = make_sessions(settings)
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "worker")
    metrics = {"epoch": 1, "loss": math.nan, "val_loss": math.inf, "seconds": 0.5}
    job_store.record_epoch(sessions, job_id, metrics)
    with sessions() as session:
        (row,) = job_store.get_history(session, job_id)
    assert row.loss is None
    assert row.val_loss is None


def test_record_epoch_reports_cancel_request(settings):
    sessions = make_sessions(settings)
    job_id = new_job(sessions)
    job_store.claim_job(sessions, job_id, "worker")
    with sessions() as session:
        job_store.request_cancel(session, job_id)
    assert job_store.record_epoch(sessions, job_id, {"epoch": 1, "seconds": 0.1})


def test_finish_ignores_job_that_is_not_running(settings):
    sessions = make_sessions(settings)
    job_id = new_job(sessions)
    job_store.finish_job(sessions, job_id, "succeeded")
    with sessions() as session:
        assert job_store.get_job(session, job_id).status == "queued"
