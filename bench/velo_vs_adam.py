"""Compare VeLO weights with Adam at four learning rates on held-out tasks.

Prints one JSON line per training run, one per task (VeLO's final train loss
divided by the best Adam's) and a summary line. The tasks come from outside the
meta-training family (digits and wine; linear and conv presets).

    .venv/bin/python bench/velo_vs_adam.py [--weights FILE] [--seeds 0 1]
        [--card FILE.json]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from velo_core.metatrain import card  # noqa: E402
from velo_core.metatrain.evaluate import EVALUATION_TASKS, evaluate_weights  # noqa: E402

DEFAULT_WEIGHTS = ROOT / "velo_core" / "weights" / "velotrain-compact-v1.msgpack"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--tasks", nargs="+", choices=sorted(EVALUATION_TASKS))
    parser.add_argument("--card", help="Also store the table in this JSON card")
    args = parser.parse_args(argv)

    def print_line(row):
        print(json.dumps({"kind": "run", **row}), flush=True)

    table = evaluate_weights(args.weights, args.seeds, args.tasks, print_line)
    for row in table["tasks"]:
        print(json.dumps({"kind": "task", **row}), flush=True)
    print(json.dumps({"kind": "summary", **table["summary"]}), flush=True)
    if args.card:
        card.add_evaluation(args.card, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
