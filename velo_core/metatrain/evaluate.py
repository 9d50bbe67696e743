"""Compare VeLO weights with Adam on tasks outside the meta-training family.

Digits and wine never appear in the meta-training family, and the linear and
conv presets have other sizes than the family's networks, so these tasks test
how the learned optimizer generalises. Every run goes through the project's own
training loop (`velo_core.training.train`), so VeLO and Adam differ only in the
optimizer.
"""

import math

import numpy as np

from velo_core.config import TrainConfig
from velo_core.divergence import TrainingDiverged
from velo_core.training import train

ADAM_LEARNING_RATES = (1e-4, 1e-3, 1e-2, 5e-2)
REFERENCE_ADAM_RATE = 1e-3
WITHIN_FACTOR = 1.2

# name -> TrainConfig arguments shared by every optimizer.
EVALUATION_TASKS = {
    "digits_mlp128_full": dict(
        dataset="digits",
        model="mlp",
        hidden_sizes=(128,),
        batch_size="full",
        epochs=100,
    ),
    "digits_conv_b128": dict(dataset="digits", model="conv", batch_size=128, epochs=8),
    "wine_mlp16_full": dict(
        dataset="wine", model="mlp", hidden_sizes=(16,), batch_size="full", epochs=40
    ),
    "digits_linear_b32": dict(
        dataset="digits", model="linear", batch_size=32, epochs=4
    ),
}


def run_one(task, seed, weights=None, learning_rate=None):
    """Train one evaluation task with VeLO (`weights`) or Adam (`learning_rate`).

    Returns:
      A dict with the final train loss, val loss and accuracies; a diverged run
      has loss infinity and `diverged` True.
    """
    use_velo = learning_rate is None
    options = dict(EVALUATION_TASKS[task], seed=seed, use_velo=use_velo)
    if use_velo:
        options["velo_weights"] = weights
    else:
        options["learning_rate"] = learning_rate
    row = {
        "task": task,
        "optimizer": "velo" if use_velo else "adam",
        "learning_rate": learning_rate,
        "seed": seed,
    }
    try:
        metrics = train(TrainConfig(**options)).final_metrics
    except TrainingDiverged as error:
        return row | {
            "loss": math.inf,
            "val_loss": math.inf,
            "diverged": True,
            "diverged_epoch": error.epoch,
        }
    keep = ("loss", "val_loss", "accuracy", "val_accuracy")
    return (
        row
        | {key: metrics[key] for key in keep if key in metrics}
        | {"diverged": False}
    )


def summarize_task(task, runs):
    """Reduce the runs of one task to VeLO's loss relative to the best Adam."""

    def mean_loss(selected):
        return float(np.mean([run["loss"] for run in selected]))

    velo_runs = [run for run in runs if run["optimizer"] == "velo"]
    adam = {
        rate: mean_loss([r for r in runs if r["learning_rate"] == rate])
        for rate in ADAM_LEARNING_RATES
    }
    best_rate = min(adam, key=adam.get)
    velo_loss = mean_loss(velo_runs)
    return {
        "task": task,
        "velo_loss": velo_loss,
        "velo_diverged": any(run["diverged"] for run in velo_runs),
        "adam_loss_by_rate": {str(rate): loss for rate, loss in adam.items()},
        "best_adam_rate": best_rate,
        "best_adam_loss": adam[best_rate],
        "ratio_to_best_adam": velo_loss / adam[best_rate],
        "better_than_adam_1e-3": velo_loss < adam[REFERENCE_ADAM_RATE],
    }


def summarize(task_rows):
    """Count how many tasks meet each target."""
    return {
        "tasks": len(task_rows),
        "velo_diverged": sum(row["velo_diverged"] for row in task_rows),
        "within_1.2x_of_best_adam": sum(
            row["ratio_to_best_adam"] <= WITHIN_FACTOR for row in task_rows
        ),
        "better_than_adam_1e-3": sum(row["better_than_adam_1e-3"] for row in task_rows),
    }


def evaluate_weights(weights, seeds=(0, 1), tasks=None, on_run=None):
    """Run every evaluation task with VeLO and Adam and return the table.

    Args:
      weights: VeLO weights file, registered name, or None for the default.
      seeds: seeds of the split, initial weights and batch order.
      tasks: names from EVALUATION_TASKS; None means all.
      on_run: optional callback receiving each run's row as it finishes.

    Returns:
      {"runs": [...], "tasks": [...], "summary": {...}, "seeds": [...]}.
    """
    runs, task_rows = [], []
    for task in tasks or EVALUATION_TASKS:
        task_runs = []
        for seed in seeds:
            for rate in (None, *ADAM_LEARNING_RATES):
                row = run_one(task, seed, weights, rate)
                task_runs.append(row)
                if on_run is not None:
                    on_run(row)
        runs += task_runs
        task_rows.append(summarize_task(task, task_runs))
    return {
        "runs": runs,
        "tasks": task_rows,
        "summary": summarize(task_rows),
        "seeds": list(seeds),
    }
