"""`velotrain reaper`: run the reaper loop on its own (see worker/reaper.py)."""

import argparse
import logging
import signal
import threading

from velotrain.logs import configure_logging
from velotrain.settings import get_settings

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    reaper = subparsers.add_parser(
        "reaper",
        help="Requeue jobs of lost workers, time out overruns and send unsent jobs "
        "(each API process also runs this unless VELOTRAIN_REAPER_IN_API=false)",
    )
    reaper.add_argument(
        "--once", action="store_true", help="Run one pass, print it and exit"
    )
    reaper.set_defaults(handler=run_reaper)


def run_reaper(args: argparse.Namespace) -> int:
    from db.engine import make_engine, make_session_factory
    from worker.celery_app import make_celery
    from worker.reaper import Reaper

    settings = get_settings()
    configure_logging(settings.log_level)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    reaper = Reaper(settings, sessions, make_celery(settings))
    if args.once:
        print(reaper.run_once())
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info("reaper running every %g s", settings.reaper_interval_seconds)
    reaper.run_forever(stop)
    return 0
