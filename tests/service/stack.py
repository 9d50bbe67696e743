"""Start the real service processes (uvicorn API, Celery workers) on loopback."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.service.backends import Backend

TERMINAL = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServiceStack:
    """An API process and worker processes sharing one database and one broker."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115
        env = dict(self.env, VELOTRAIN_PORT=str(self.port))
        process = subprocess.Popen(
            [sys.executable, "-m", "velotrain.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        self._spawn("api", "api", "--migrate")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.processes["api"].poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"API did not start; see {self.log_dir / 'api.log'}")

    def start_worker(
        self, name: str = "worker", queue: str | None = None
    ) -> subprocess.Popen:
        """Start worker `name` on `queue` (None: the worker_queue setting)."""
        queue_args = ["--queue", queue] if queue else []
        return self._spawn(name, "worker", "--name", f"{name}@%h", *queue_args)

    def wait_for_worker(self, name: str, timeout: float = 60) -> None:
        """Wait until worker `name` logs that it consumes its queue."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log(name).splitlines()
            if any(f"{name}@" in line and " ready." in line for line in lines):
                return
            if self.processes[name].poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker {name} is not ready; see {self.log_dir}/{name}.log")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VELOTRAIN_")
    }
    env["VELOTRAIN_DATA_DIR"] = str(data_dir)
    # Device fit and TFLite export import TensorFlow in a child process (20-60 s
    # per job on 2 cores); only the tests about them turn them on.
    env["VELOTRAIN_MEASURE_DEVICE_FIT"] = "false"
    env["VELOTRAIN_EXPORT_TFLITE"] = "false"
    return env


def backend_env(backend: Backend, data_dir: Path) -> dict[str, str]:
    """Return the environment of service processes that use `backend`."""
    return backend.env(embedded_env(data_dir))


def wait_for_job(client: httpx.Client, job_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} did not finish within {timeout} s: {job}")
