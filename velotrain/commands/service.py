"""`velotrain serve`, `api`, `worker` and `migrate`: run the service's processes."""

import argparse
import logging
import os
import signal
import subprocess
import sys

from velotrain.logs import configure_logging
from velotrain.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="Run the API and one worker (migrates the database first)"
    )
    serve.set_defaults(handler=run_serve)
    api = subparsers.add_parser("api", help="Run the API server only")
    api.add_argument(
        "--migrate", action="store_true", help="Migrate the database first"
    )
    api.set_defaults(handler=run_api)
    worker = subparsers.add_parser("worker", help="Run one Celery worker")
    worker.add_argument(
        "--queue", help="Queue to consume: cpu or gpu (default VELOTRAIN_WORKER_QUEUE)"
    )
    worker.add_argument(
        "--name", help="Celery node name (default: velotrain-<pid>@host)"
    )
    worker.set_defaults(handler=run_worker)
    migrate = subparsers.add_parser(
        "migrate", help="Upgrade the database to the latest schema"
    )
    migrate.set_defaults(handler=run_migrate)


def run_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade_to_head

    settings = get_settings()
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    print(
        f"database at the latest migration: {_redact(settings.resolved_database_url)}"
    )
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    if args.migrate:
        run_migrate(args)
    logger.info(
        "API starting on http://%s:%d (database %s)",
        settings.host,
        settings.port,
        _redact(settings.resolved_database_url),
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )
    return 0


def worker_argv(settings: Settings, queue: str | None, name: str | None) -> list[str]:
    """Build worker arguments: one process, no fork, as JAX is not fork-safe."""
    node = name or f"velotrain-{os.getpid()}@%h"
    return [
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={queue or settings.worker_queue}",
        f"--hostname={node}",
        f"--loglevel={settings.log_level}",
        "--without-gossip",
        "--without-mingle",
    ]


def run_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    # Keep JAX from reserving most of a GPU's memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import worker.tasks  # noqa: F401  (registers the task)
    from worker.celery_app import app, declare_queues

    queues = (args.queue or settings.worker_queue).split(",")
    declare_queues(app, queues)
    app.worker_main(worker_argv(settings, args.queue, args.name))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Run the API in this process and one worker in a child process."""
    run_migrate(args)
    worker = subprocess.Popen([sys.executable, "-m", "velotrain.cli", "worker"])
    # uvicorn re-raises SIGTERM after its shutdown. The default handler would end this
    # process before the finally clause and leave the worker running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        args.migrate = False
        return run_api(args)
    finally:
        _stop(worker)


def _exit_on_sigterm(_signum: int, _frame) -> None:
    raise SystemExit(0)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
