"""Build the hand-made starting point of meta-training and its search scales.

From VeLO's random initialisation every tested task diverged, so meta-training
starts from weights that make the untrained optimizer behave like Adam with a
relative step: the per-parameter MLP passes one input feature (momentum with
decay 0.9 times the inverse root of the second moment, normalised per tensor)
straight to the update direction, the LSTM-to-mixing weights are zero, and the
step-size head makes a step move a tensor by `relative_step` of its root mean
square.
"""

import jax
import jax.numpy as jnp

# VeLO scales every step by step_mult = 0.001 (HyperV2 default).
STEP_MULT = 1e-3
# Mixed MLP weights are 100 * mean_i(controls_i * base_i) (HyperV2 default).
MIX_SCALE = 100.0
# Input group 5 holds momentum * rsqrt(second moment); channel 0 is decay 0.9.
PASS_THROUGH_GROUP = "w0__5"
# Typical size of an LSTM output unit (sigmoid times tanh) at initialisation.
LSTM_OUTPUT_SIZE = 0.3


def leaf_name(path):
    """Join a pytree key path into a slash-separated name like 'rnn_params/x/w'."""
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return "/".join(parts)


def _pass_through_mlp(name, leaf):
    """Return the base weights of an MLP whose direction output equals one input.

    Hidden units 0 and 1 carry the positive and negative part of the input
    (ReLU), and the direction output subtracts them again.
    """
    base = jnp.zeros_like(leaf)
    if name.endswith(PASS_THROUGH_GROUP):
        return base.at[:, 0, 0].set(1.0).at[:, 0, 1].set(-1.0)
    if name.endswith("/w1"):
        return base.at[:, 0, 0].set(1.0).at[:, 1, 1].set(1.0)
    if name.endswith("/w2"):
        return base.at[:, 0, 0].set(1.0).at[:, 1, 0].set(-1.0)
    return base


def hand_built_theta(random_theta, relative_step=0.02):
    """Turn a randomly initialised theta into the Adam-like starting point.

    Args:
      random_theta: theta from the VeLO initialiser (supplies the LSTM weights).
      relative_step: step size as a fraction of each tensor's root mean square.

    Returns:
      A theta with the same structure, shapes and dtypes.
    """
    _num_bases(random_theta)  # fail early on a tree that is not a VeLO theta

    def build(path, leaf):
        name = leaf_name(path)
        if "ff_mod_stack" in name:
            return _pass_through_mlp(name, leaf)
        if "rnn_to_controls" in name:
            # Equal controls make the mixed MLP the mean of identical bases.
            fill = 0.0 if name.endswith("/w") else 1.0 / MIX_SCALE
            return jnp.full_like(leaf, fill)
        if "step_size" in name:
            fill = 0.0 if name.endswith("/w") else relative_step / STEP_MULT
            return jnp.full_like(leaf, fill)
        return leaf

    return jax.tree_util.tree_map_with_path(build, random_theta)


def _num_bases(theta):
    for path, leaf in jax.tree_util.tree_leaves_with_path(theta):
        if leaf_name(path).endswith("ff_mod_stack/~/b0"):
            return leaf.shape[0]
    raise ValueError(
        "theta has no 'ff_mod_stack/~/b0' leaf; expected a VeLO (HyperV2) theta. "
        f"Received leaves: {[leaf_name(p) for p, _ in _paths(theta)]}"
    )


def _paths(theta):
    return jax.tree_util.tree_leaves_with_path(theta)


def perturbation_scales(theta, relative_step=0.02):
    """Return per-leaf scales so equal perturbations change the update similarly.

    A unit change of the rescaled coordinate should change the update by about
    one unit of relative step wherever it lands. The factors follow from how
    each leaf enters the update: each of the P MLP bases contributes 1/P of the
    mixed weights (noise averages down by sqrt(P)); a control moves the mixed
    weights by about 100/sqrt(P) and is fed by sqrt(H) LSTM outputs; the step
    head multiplies the whole step, whose bias starts at relative_step/0.001.
    """
    num_bases = _num_bases(theta)
    hidden = _lstm_size(theta)
    control_gain = MIX_SCALE / num_bases**0.5
    step_bias = relative_step / STEP_MULT
    lstm_fan = LSTM_OUTPUT_SIZE * hidden**0.5

    def scale(path, leaf):
        name = leaf_name(path)
        if "ff_mod_stack" in name:
            value = num_bases**0.5
        elif "rnn_to_controls" in name:
            fan = lstm_fan if name.endswith("/w") else 1.0
            value = 1.0 / (control_gain * fan)
        elif "step_size" in name:
            value = step_bias / (lstm_fan if name.endswith("/w") else 1.0)
        else:
            value = 1.0
        return jnp.full((), value, jnp.float32)

    return jax.tree_util.tree_map_with_path(scale, theta)


def _lstm_size(theta):
    for path, leaf in _paths(theta):
        if leaf_name(path).endswith("step_size/w"):
            return leaf.shape[0]
    raise ValueError(
        "theta has no 'step_size/w' leaf; expected a VeLO (HyperV2) theta. "
        f"Received leaves: {[leaf_name(p) for p, _ in _paths(theta)]}"
    )
