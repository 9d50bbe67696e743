"""`velotrain serve` stops the worker it started when it is terminated."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.stack import embedded_env, free_port

pytestmark = pytest.mark.slow


def child_pids(parent: int) -> list[int]:
    """Return the ids of the processes whose parent is `parent` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def is_alive(pid: int) -> bool:
    """Return whether `pid` runs. A zombie process that was never reaped has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_healthy(base_url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base_url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"velotrain serve did not become healthy at {base_url}")


@pytest.fixture
def serve(tmp_path):
    port = free_port()
    env = dict(embedded_env(tmp_path / "var"), VELOTRAIN_PORT=str(port))
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "velotrain.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    workers = []
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        workers = child_pids(server.pid)
        yield server, workers
    finally:
        server.kill()
        server.wait()
        for pid in workers:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_serve_sigterm_stops_worker(serve):
    server, workers = serve
    assert len(workers) == 1
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while is_alive(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_alive(workers[0])
