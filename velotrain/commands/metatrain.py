"""`velotrain metatrain`: meta-train a compact VeLO and write weights and card."""

import argparse
import logging
import shlex
import sys

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the `metatrain` subcommand."""
    command = subparsers.add_parser(
        "metatrain",
        help="Meta-train a compact VeLO on CPU and write weights plus a JSON card",
    )
    command.add_argument(
        "--minutes",
        type=float,
        required=True,
        help="Wall-clock budget in minutes, compilation included",
    )
    command.add_argument("--out", required=True, help="Weights file to write")
    command.add_argument(
        "--resume",
        action="store_true",
        help="Continue from OUT.resume.npz and keep saving progress there",
    )
    command.add_argument("--seed", type=int, default=0, help="Seed of the run")
    command.add_argument(
        "--name", default=None, help="Weights name (default: the file's stem)"
    )
    command.add_argument(
        "--skip-evaluation",
        action="store_true",
        help="Do not run the VeLO-versus-Adam evaluation after meta-training",
    )
    command.set_defaults(handler=run_metatrain)


def run_metatrain(args: argparse.Namespace) -> int:
    """Run meta-training, then write the weights, the card and the evaluation."""
    from pathlib import Path

    from velo_core.metatrain import card
    from velo_core.metatrain.run import MetaTrainConfig, meta_train
    from velo_core.velo.weights import save_weights

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    name = args.name or out.stem
    config = MetaTrainConfig()
    resume_path = f"{out}.resume.npz" if args.resume else None
    result = meta_train(args.minutes, config, args.seed, resume_path)
    sha256 = save_weights(out, result.theta, gen_id=name, step=result.best_step)
    command = "velotrain " + shlex.join(sys.argv[1:])
    card_file = card.card_path(out)
    card.write_card(card_file, card.build_card(name, sha256, config, result, command))
    logger.info("wrote %s (sha256 %s) and %s", out, sha256, card_file)
    if not args.skip_evaluation:
        from velo_core.metatrain.evaluate import evaluate_weights

        table = evaluate_weights(str(out))
        card.add_evaluation(card_file, table)
        logger.info("added the evaluation table to %s", card_file)
    return 0
