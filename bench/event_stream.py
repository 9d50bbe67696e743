"""Measure GET /jobs/{id}/events: delivery delay, and the API's latency under streams.

Starts its own API process on the embedded default (SQLite), with no worker. The
script itself writes epoch rows into the database the way a worker does, so the
delay from each write to the client's receipt of that epoch event can be timed.
It then opens N idle streams on queued jobs and times GET /jobs/{id} with and
without them. Prints JSON lines.

Usage: python bench/event_stream.py [--epochs 20] [--interval 0.3] [--streams 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db import jobs  # noqa: E402
from db.engine import make_engine, make_session_factory  # noqa: E402
from tests.service.stack import ServiceStack, embedded_env  # noqa: E402
from velotrain.settings import Settings  # noqa: E402
from velotrain.sse import read_events  # noqa: E402

JOB = {"dataset": "iris", "model": "linear", "epochs": 1000}
LATENCY_READS = 200


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "var"
        stack = ServiceStack(env=embedded_env(data_dir), log_dir=Path(scratch))
        try:
            stack.start_api()
            sessions = make_session_factory(
                make_engine(Settings(data_dir=data_dir).resolved_database_url)
            )
            with httpx.Client(base_url=stack.base_url, timeout=60) as client:
                emit(delivery_delay(client, sessions, args.epochs, args.interval))
                emit(latency_under_streams(client, stack.base_url, args.streams))
        finally:
            stack.stop()
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--streams", type=int, default=30)
    return parser.parse_args()


def delivery_delay(client, sessions, epochs: int, interval: float) -> dict:
    """Write `epochs` rows `interval` s apart; time each until its event arrives."""
    job_id = client.post("/jobs", json=JOB).json()["id"]
    attempt = jobs.claim_job(sessions, job_id, "bench-writer")
    written: dict[int, float] = {}

    def write_epochs() -> None:
        for epoch in range(1, epochs + 1):
            time.sleep(interval)
            row = {"epoch": epoch, "loss": 1.0, "val_loss": 1.0, "seconds": interval}
            written[epoch] = time.perf_counter()
            jobs.record_epoch(sessions, job_id, row, attempt)
        jobs.finish_job(
            sessions, job_id, "succeeded", final_metrics={}, attempt=attempt
        )

    delays = []
    writer = threading.Thread(target=write_epochs)
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        writer.start()
        for event in read_events(response.iter_lines()):
            if event.name == "epoch":
                epoch = json.loads(event.data)["epoch"]
                delays.append(time.perf_counter() - written[epoch])
            if event.name == "end":
                break
    writer.join()
    return {
        "bench": "event_stream_delivery",
        "epochs": len(delays),
        "interval_s": interval,
        "delay_p50_s": round(statistics.median(delays), 3),
        "delay_max_s": round(max(delays), 3),
    }


def latency_under_streams(client, base_url: str, streams: int) -> dict:
    """Time GET /jobs/{id} alone, then with `streams` open event streams."""
    job_ids = [client.post("/jobs", json=JOB).json()["id"] for _ in range(streams)]
    quiet = read_latencies(client, job_ids[0])
    stop = threading.Event()
    opened = threading.Semaphore(0)
    threads = [
        threading.Thread(target=hold_stream, args=(base_url, job_id, stop, opened))
        for job_id in job_ids
    ]
    for thread in threads:
        thread.start()
    for _ in threads:
        opened.acquire()
    loaded = read_latencies(client, job_ids[0])
    stop.set()
    for job_id in job_ids:
        client.post(f"/jobs/{job_id}/cancel")
    for thread in threads:
        thread.join()
    return {
        "bench": "event_stream_api_latency",
        "streams": streams,
        "reads": LATENCY_READS,
        "p50_ms_without_streams": quiet[0],
        "p90_ms_without_streams": quiet[1],
        "p50_ms_with_streams": loaded[0],
        "p90_ms_with_streams": loaded[1],
    }


def hold_stream(base_url: str, job_id: int, stop, opened) -> None:
    """Keep one event stream open until `stop` is set and the job has ended."""
    with httpx.Client(base_url=base_url, timeout=None) as client:
        with client.stream("GET", f"/jobs/{job_id}/events") as response:
            opened.release()
            for event in read_events(response.iter_lines()):
                if event.name == "end" and stop.is_set():
                    return


def read_latencies(client, job_id: int) -> tuple[float, float]:
    """Return the p50 and p90 in ms of `LATENCY_READS` reads of one job."""
    times = []
    for _ in range(LATENCY_READS):
        started = time.perf_counter()
        client.get(f"/jobs/{job_id}").raise_for_status()
        times.append(1000 * (time.perf_counter() - started))
    deciles = statistics.quantiles(times, n=10)
    return round(statistics.median(times), 1), round(deciles[8], 1)


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
