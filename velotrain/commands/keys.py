"""`velotrain keys`: create, list and revoke project API keys."""

import argparse

from db.api_keys import create_api_key, list_api_keys, revoke_api_keys
from db.engine import make_engine, make_session_factory
from velotrain.settings import get_settings


def register(subparsers) -> None:
    """Add `keys create`, `keys list` and `keys revoke` to the velotrain command."""
    keys = subparsers.add_parser(
        "keys", help="Manage project API keys (used when VELOTRAIN_AUTH=on)"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="Create a key and print it once")
    create.add_argument("--project", required=True, help="Project the key acts for")
    create.set_defaults(handler=run_create)
    listing = actions.add_parser("list", help="List keys by their visible prefix")
    listing.set_defaults(handler=run_list)
    revoke = actions.add_parser("revoke", help="Revoke the keys with this prefix")
    revoke.add_argument("prefix", help="The prefix `keys list` shows")
    revoke.set_defaults(handler=run_revoke)


def _sessions():
    settings = get_settings()
    settings.ensure_data_dir()
    return make_session_factory(make_engine(settings.resolved_database_url))


def run_create(args: argparse.Namespace) -> int:
    """Print a new key of `--project`; only its sha256 is stored."""
    try:
        with _sessions()() as session:
            token = create_api_key(session, args.project)
    except ValueError as error:
        print(f"keys create: {error}")
        return 2
    print(token)
    return 0


def run_list(_args: argparse.Namespace) -> int:
    with _sessions()() as session:
        for key in list_api_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            print(f"{key.prefix}\t{key.project}\t{key.created_at:%Y-%m-%d}\t{state}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with _sessions()() as session:
        count = revoke_api_keys(session, args.prefix)
    print(f"revoked {count} key(s)")
    return 0 if count else 1
