"""`velotrain demo`: start the service, train VeLO and Adam on digits, print both."""

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from velotrain.settings import get_settings

DEMO_JOB = {"dataset": "digits", "model": "mlp", "epochs": 30, "batch_size": "full"}
TERMINAL = ("succeeded", "failed", "cancelled")


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="Start API and worker, train one VeLO and one Adam job, print histories",
    )
    demo.add_argument(
        "--timeout", type=float, default=900, help="Seconds to wait for both jobs"
    )
    demo.set_defaults(handler=run_demo)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """Return whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_demo(args: argparse.Namespace) -> int:
    port = int(os.environ.get("VELOTRAIN_PORT") or free_port())
    # A server already on the port would pass the health check, and the demo
    # would train on it instead of on the processes it starts.
    if port_in_use(port):
        raise SystemExit(
            f"port {port} is already in use. Stop the server on it, or unset "
            "VELOTRAIN_PORT so that the demo picks a free port."
        )

    env = dict(os.environ, VELOTRAIN_PORT=str(port), VELOTRAIN_HOST="127.0.0.1")
    # The demo prints loss curves only; skip the TFLite export and device fit,
    # which import TensorFlow for every job, unless the caller asked for them.
    env.setdefault("VELOTRAIN_MEASURE_DEVICE_FIT", "false")
    env.setdefault("VELOTRAIN_EXPORT_TFLITE", "false")
    base_url = f"http://127.0.0.1:{port}"
    settings = get_settings()
    settings.ensure_data_dir()
    log_path = settings.resolved_data_dir / "demo.log"
    print(f"starting API and worker on {base_url} (log: {log_path}) ...", flush=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "velotrain.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            wait_until_healthy(client, server, log_path)
            job_ids = submit_demo_jobs(client)
            finished = wait_for_jobs(client, job_ids, args.timeout)
            print_histories(client, finished)
    finally:
        stop_process(server)
    failed = [job for job in finished if job["status"] != "succeeded"]
    return 1 if failed else 0


def wait_until_healthy(
    client: httpx.Client, server: subprocess.Popen, log_path: Path
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"velotrain serve exited with code {server.returncode}; "
                f"see its log in {log_path}"
            )
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(
        f"the API did not become healthy within 120 s; see its log in {log_path}"
    )


def submit_demo_jobs(client: httpx.Client) -> list[int]:
    job_ids = []
    for use_velo in (True, False):
        body = dict(DEMO_JOB, use_velo=use_velo, name="demo")
        response = client.post("/jobs", json=body)
        response.raise_for_status()
        job = response.json()
        label = "VeLO" if use_velo else f"Adam lr={job['config']['learning_rate']}"
        print(f"submitted job {job['id']}: {label}", flush=True)
        job_ids.append(job["id"])
    return job_ids


def wait_for_jobs(client: httpx.Client, job_ids: list[int], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [client.get(f"/jobs/{job_id}").json() for job_id in job_ids]
        progress = ", ".join(
            f"job {job['id']} {job['status']} "
            f"{job['progress']['epochs_done']}/{job['progress']['epochs_total']}"
            for job in jobs
        )
        print(progress, flush=True)
        if all(job["status"] in TERMINAL for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs did not finish within {timeout:.0f} s")
        time.sleep(2)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_histories(client: httpx.Client, jobs: list[dict]) -> None:
    histories = [client.get(f"/jobs/{job['id']}/history").json() for job in jobs]
    print()
    for job in jobs:
        weights = f" weights={job['weights_name']}" if job["weights_name"] else ""
        reason = f" reason: {job['failure_reason']}" if job["failure_reason"] else ""
        print(f"job {job['id']} {job['optimizer']}{weights}: {job['status']}{reason}")
    header = "epoch"
    for job in jobs:
        name = job["optimizer"]
        header += f" | {name} loss  {name} val_loss  {name} val_acc"
    print(header)
    rows = max((len(history["epochs"]) for history in histories), default=0)
    for index in range(rows):
        line = f"{index + 1:5d}"
        for history in histories:
            epochs = history["epochs"]
            row = epochs[index] if index < len(epochs) else {}
            line += (
                f" | {_cell(row.get('loss')):>9} {_cell(row.get('val_loss')):>13}"
                f" {_cell(row.get('val_accuracy')):>12}"
            )
        print(line)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
