"""Save and restore the progress of a meta-training run for `--resume`.

The file is an .npz archive: the search coordinate, the best one so far, the
meta-optimizer state leaves and the counters, plus the history as JSON text.
It is a working file of the run, not a published weights format.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np


def save(run, path):
    """Write the progress of `run` to `path` atomically."""
    leaves = jax.tree.leaves(run.opt_state)
    arrays = {f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays.update(
        u=np.asarray(run.u),
        best_u=np.asarray(run.best_u),
        counters=np.array([run.step, run.best_step], np.int64),
        floats=np.array([run.best_validation, run.elapsed], np.float64),
        history=np.array(json.dumps(run.history)),
    )
    partial = f"{path}.partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)


def restore(run, path):
    """Load progress from `path` into `run`; leave `run` untouched if absent."""
    if not os.path.exists(path):
        return
    with np.load(path) as data:
        if data["u"].shape != run.u.shape:
            raise ValueError(
                "The resume file belongs to another architecture; delete it or "
                f"pick another path. Received: {path} with {data['u'].shape[0]} "
                f"meta-parameters, expected {run.u.shape[0]}"
            )
        structure = jax.tree.structure(run.opt_state)
        leaves = [jnp.asarray(data[f"opt_{i}"]) for i in range(structure.num_leaves)]
        run.opt_state = jax.tree.unflatten(structure, leaves)
        run.u, run.best_u = jnp.asarray(data["u"]), jnp.asarray(data["best_u"])
        run.step, run.best_step = (int(v) for v in data["counters"])
        run.best_validation, run.elapsed = (float(v) for v in data["floats"])
        run.history = json.loads(str(data["history"]))
