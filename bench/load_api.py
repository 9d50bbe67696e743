"""Load the REST API: M concurrent clients submit and poll N jobs; print JSON lines.

Starts its own API and worker processes on the embedded database and broker, with
the ServiceStack the tests use, or targets a running server with --url. Prints the
p50 and p99 latency of submits and of status reads, the error count, and checks that
every submitted job is listed and ends in a terminal state (zero lost). A 429 is
retried after its Retry-After and counted apart from errors. Exits 1 on any error or
lost job.

Usage: python bench/load_api.py [--jobs 500] [--clients 50] [--workers 1]
       [--url http://127.0.0.1:8000] [--api-key KEY] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.service.stack import ServiceStack, embedded_env  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled")
# One full-batch epoch of a linear model on iris: the cheapest job there is.
TINY_JOB = {"dataset": "iris", "model": "linear", "epochs": 1}
POLL_SECONDS = 0.5


@dataclass
class ClientStats:
    """Latencies and outcomes one client thread saw."""

    submit_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    throttled: int = 0


def main() -> int:
    args = parse_args()
    emit({"bench": "load_api", "jobs": args.jobs, "clients": args.clients})
    if args.url:
        return run_load(args.url, args)
    with tempfile.TemporaryDirectory() as data_dir:
        stack = own_stack(Path(data_dir), args)
        try:
            return run_load(stack.base_url, args)
        finally:
            stack.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="Own stack only")
    parser.add_argument("--url", help="Load this server instead of starting one")
    parser.add_argument("--api-key", help="Sent as X-API-Key (VELOTRAIN_AUTH=on)")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds")
    return parser.parse_args()


def own_stack(data_dir: Path, args: argparse.Namespace) -> ServiceStack:
    """Start an API and `args.workers` workers with limits above the load."""
    env = embedded_env(data_dir / "var")
    env.update(
        {
            "VELOTRAIN_SUBMIT_RATE_PER_SECOND": "100000",
            "VELOTRAIN_SUBMIT_BURST": str(args.jobs),
            "VELOTRAIN_MAX_ACTIVE_JOBS_PER_PROJECT": str(args.jobs),
            "VELOTRAIN_LOG_LEVEL": "WARNING",
        }
    )
    stack = ServiceStack(env=env, log_dir=data_dir)
    stack.start_api()
    for index in range(args.workers):
        stack.start_worker(f"worker-{index}")
    return stack


def run_load(base_url: str, args: argparse.Namespace) -> int:
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    deadline = time.monotonic() + args.timeout
    stats = [ClientStats() for _ in range(args.clients)]
    shares = [
        len(range(index, args.jobs, args.clients)) for index in range(args.clients)
    ]
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=run_client, args=(base_url, headers, share, deadline, client_stats)
        )
        for share, client_stats in zip(shares, stats, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_seconds = time.perf_counter() - started
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        listed = list_all_jobs(client)
    return report(stats, listed, wall_seconds)


def run_client(base_url, headers, count, deadline, stats: ClientStats) -> None:
    """Submit `count` jobs, then poll them until each ends or time runs out."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for _ in range(count):
            job_id = submit(client, stats)
            if job_id is not None:
                stats.job_ids.append(job_id)
        pending = set(stats.job_ids)
        while pending and time.monotonic() < deadline:
            for job_id in sorted(pending):
                if read_status(client, job_id, stats) in TERMINAL:
                    pending.discard(job_id)
            time.sleep(POLL_SECONDS)


def submit(client: httpx.Client, stats: ClientStats) -> int | None:
    while True:
        response = timed(client.post, stats.submit_ms, "/jobs", json=TINY_JOB)
        if isinstance(response, httpx.Response) and response.status_code == 429:
            stats.throttled += 1
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if not isinstance(response, httpx.Response) or response.status_code != 201:
            stats.errors[describe(response, "submit")] += 1
            return None
        return response.json()["id"]


def read_status(client: httpx.Client, job_id: int, stats: ClientStats) -> str | None:
    response = timed(client.get, stats.read_ms, f"/jobs/{job_id}")
    if not isinstance(response, httpx.Response) or response.status_code != 200:
        stats.errors[describe(response, "read")] += 1
        return None
    return response.json()["status"]


def timed(method, latencies: list[float], *args, **kwargs):
    """Call `method`; append its latency in ms; return the response or error."""
    started = time.perf_counter()
    try:
        response = method(*args, **kwargs)
    except httpx.HTTPError as error:
        return error
    finally:
        latencies.append((time.perf_counter() - started) * 1000)
    return response


def describe(outcome, action: str) -> str:
    if isinstance(outcome, httpx.Response):
        return f"{action} {outcome.status_code}"
    return f"{action} {outcome.__class__.__name__}"


def list_all_jobs(client: httpx.Client) -> dict[int, str]:
    """Return the status of every job the server lists, by id."""
    statuses, offset = {}, 0
    while True:
        page = client.get("/jobs", params={"limit": 500, "offset": offset}).json()
        statuses.update({job["id"]: job["status"] for job in page["items"]})
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return statuses


def report(stats: list[ClientStats], listed: dict[int, str], wall: float) -> int:
    submitted = [job_id for client in stats for job_id in client.job_ids]
    errors = sum((client.errors for client in stats), Counter())
    missing = [job_id for job_id in submitted if job_id not in listed]
    unfinished = [
        job_id
        for job_id in submitted
        if job_id in listed and listed[job_id] not in TERMINAL
    ]
    for name, values in [
        ("submit", [ms for client in stats for ms in client.submit_ms]),
        ("status_read", [ms for client in stats for ms in client.read_ms]),
    ]:
        emit({"phase": name, **latency_summary(values)})
    emit(
        {
            "submitted": len(submitted),
            "errors": sum(errors.values()),
            "errors_by_kind": dict(errors),
            "throttled_429": sum(client.throttled for client in stats),
            "not_listed": len(missing),
            "not_terminal": len(unfinished),
            "lost": len(missing) + len(unfinished),
            "statuses": dict(
                Counter(listed[job_id] for job_id in submitted if job_id in listed)
            ),
            "wall_seconds": round(wall, 1),
        }
    )
    return 1 if errors or missing or unfinished else 0


def latency_summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
