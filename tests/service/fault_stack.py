"""Helpers for the fault tests: fast reaper settings and polling on a real stack."""

import time
from pathlib import Path

import httpx

from tests.service.stack import ServiceStack, embedded_env

# Heartbeats and reaper passes a few times a second, so that a lost worker is
# noticed within seconds instead of a minute.
FAST_REAPER = {
    "VELOTRAIN_HEARTBEAT_SECONDS": "0.5",
    "VELOTRAIN_HEARTBEAT_TIMEOUT_SECONDS": "5",
    "VELOTRAIN_REAPER_INTERVAL_SECONDS": "0.5",
    "VELOTRAIN_ENQUEUE_GRACE_SECONDS": "1",
}


def fault_stack(tmp_path: Path, **settings: str) -> ServiceStack:
    """Return a stack on the embedded database and broker with `FAST_REAPER`."""
    env = embedded_env(tmp_path / "var")
    env.update(FAST_REAPER)
    env.update({f"VELOTRAIN_{name.upper()}": value for name, value in settings.items()})
    return ServiceStack(env=env, log_dir=tmp_path)


def wait_until(read, done, timeout: float, description: str):
    """Call `read()` until `done(value)` holds; return that value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.3)
    raise TimeoutError(
        f"{description} did not happen within {timeout} s; last: {value}"
    )


def job_reader(client: httpx.Client, job_id: int):
    return lambda: client.get(f"/jobs/{job_id}").json()


def wait_for_epochs(client: httpx.Client, job_id: int, count: int, timeout=120):
    return wait_until(
        job_reader(client, job_id),
        lambda job: job["progress"]["epochs_done"] >= count,
        timeout,
        f"epoch {count} of job {job_id}",
    )


def history_epochs(client: httpx.Client, job_id: int) -> list[int]:
    rows = client.get(f"/jobs/{job_id}/history").json()["epochs"]
    return [row["epoch"] for row in rows]
