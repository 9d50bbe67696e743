"""The `velotrain` command line: one entry point for the service and its tools."""

import argparse
import importlib
import logging
import sys

from velotrain.commands import service

# Modules under velotrain.commands that add their own subcommands.
COMMAND_MODULES = (
    "service",
    "demo",
    "weights",
    "metatrain",
    "keys",
    "reaper",
    "history",
    "jobs",
)

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="velotrain",
        description="Train small models with the VeLO learned optimizer or with Adam.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"velotrain.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"velotrain.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C while waiting or watching: the job itself keeps running.
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["main", "service"]
