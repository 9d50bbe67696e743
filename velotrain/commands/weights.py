"""`velotrain weights`: download VeLO weights into the cache and list them."""

import argparse
import json
import os

from velo_core.velo.checkpoint import WeightsFileError
from velo_core.velo.registry import OFFICIAL_NAME, fetch_weights, list_weights


def default_cache_dir() -> str:
    """Return <VELOTRAIN_DATA_DIR>/weights (./var/weights when unset)."""
    return os.environ.get("VELOTRAIN_DATA_DIR", "./var") + "/weights"


def register(subparsers) -> None:
    """Add `weights fetch` and `weights list` to the velotrain command."""
    weights = subparsers.add_parser("weights", help="Install and list VeLO weights")
    actions = weights.add_subparsers(dest="weights_command", required=True)
    fetch = actions.add_parser("fetch", help="Download and verify VeLO weights")
    fetch.add_argument("name", nargs="?", default=OFFICIAL_NAME)
    fetch.add_argument("--url", help="Download from this URL instead")
    _add_cache_dir(fetch)
    fetch.set_defaults(handler=run_fetch)
    listing = actions.add_parser("list", help="Show known and installed weights")
    _add_cache_dir(listing)
    listing.set_defaults(handler=run_list)


def _add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        default=default_cache_dir(),
        help="Weights cache (default: $VELOTRAIN_DATA_DIR/weights)",
    )


def run_fetch(args: argparse.Namespace) -> int:
    """Download, verify and install one weights file; print its identity."""
    try:
        weights = fetch_weights(args.name, args.cache_dir, url=args.url)
    except (OSError, ValueError) as error:
        # WeightsFileError is a ValueError: a wrong size, hash or structure.
        kind = "invalid file" if isinstance(error, WeightsFileError) else "failed"
        print(f"weights fetch {args.name}: {kind}: {error}")
        return 1
    print(
        json.dumps(
            {"name": weights.name, "path": weights.path, "sha256": weights.sha256}
        )
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print one JSON line per known, installed or bundled weights file."""
    for row in list_weights(args.cache_dir):
        print(json.dumps(row))
    return 0
