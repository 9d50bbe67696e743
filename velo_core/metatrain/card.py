"""Describe a meta-trained weights file in a JSON card stored next to it."""

import dataclasses
import json
import os
import platform
import subprocess
from pathlib import Path


def card_path(weights_path):
    """Return the card's path: the weights path with the suffix '.json'."""
    return Path(weights_path).with_suffix(".json")


def git_commit():
    """Return the commit of the source tree this module lives in, or None."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def build_card(name, sha256, config, result, command):
    """Return the card of one meta-training run as a JSON-ready dict."""
    return {
        "name": name,
        "sha256": sha256,
        "format": "VeLO (HyperV2) params checkpoint, msgpack",
        "not_the_paper_checkpoint": True,
        "architecture": {
            "lstm_hidden_size": config.lstm_hidden_size,
            "param_inits": config.param_inits,
            "other_settings": "HyperV2 defaults",
        },
        "start": {
            "kind": "hand-built Adam-like",
            "relative_step": config.relative_step,
        },
        "meta_optimizer": config.es._asdict()
        | {"estimator": "antithetic ES over whole inner runs"},
        "task_family": [dataclasses.asdict(bucket) for bucket in config.family],
        "meta_steps": result.meta_steps,
        "best_step": result.best_step,
        "best_validation": result.best_validation,
        "wall_time_s": round(result.wall_time_s, 1),
        "history": result.history,
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "git_commit": git_commit(),
        "command": command,
        "evaluation": None,
    }


def write_card(path, card):
    """Write `card` as indented JSON to `path`."""
    Path(path).write_text(json.dumps(card, indent=2) + "\n")


def add_evaluation(path, evaluation):
    """Store an evaluation table in the card at `path`."""
    card = json.loads(Path(path).read_text())
    card["evaluation"] = evaluation
    write_card(path, card)
