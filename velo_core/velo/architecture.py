"""Describe VeLO network sizes, infer them from theta and check theta against them."""

import dataclasses

import numpy as np

from velo_core.velo.state import LstmState

# Widths of the 14 per-parameter input groups, in group order (3 = one per decay).
INPUT_GROUP_WIDTHS = (1, 1, 1, 3, 1, 3, 1, 3, 1, 3, 3, 3, 3, 3)
# 9 fraction-of-training + 9 loss features + mean rms + 5 rank one-hot + 3 + 3.
LSTM_INPUT_SIZE = 30
NUM_MLP_OUTPUTS = 3
FF_STACK = ("ff_mod_stack", "~")


@dataclasses.dataclass(frozen=True)
class VeloArchitecture:
    """Sizes of one VeLO network; the defaults are those of the published weights."""

    lstm_hidden_size: int = 512
    param_inits: int = 256
    ff_hidden_size: int = 4
    ff_hidden_layers: int = 2
    lstm_input_size: int = LSTM_INPUT_SIZE
    input_group_widths: tuple[int, ...] = INPUT_GROUP_WIDTHS
    num_outputs: int = NUM_MLP_OUTPUTS

    @property
    def ff_input_size(self) -> int:
        """Return the number of per-parameter input channels."""
        return sum(self.input_group_widths)

    @property
    def ff_layer_sizes(self) -> tuple[int, ...]:
        """Return the output size of every MLP layer, first to last."""
        hidden = (self.ff_hidden_size,) * self.ff_hidden_layers
        return hidden + (self.num_outputs,)


def _ff_stack_shapes(arch: VeloArchitecture) -> dict[str, tuple[int, ...]]:
    bases, hidden = arch.param_inits, arch.ff_hidden_size
    shapes = {
        f"w0__{i}": (bases, width, hidden)
        for i, width in enumerate(arch.input_group_widths)
    }
    sizes = arch.ff_layer_sizes
    shapes["b0"] = (bases, sizes[0])
    for layer in range(1, len(sizes)):
        shapes[f"w{layer}"] = (bases, sizes[layer - 1], sizes[layer])
        shapes[f"b{layer}"] = (bases, sizes[layer])
    return shapes


def _dense(inputs: int, outputs: int) -> dict[str, tuple[int, ...]]:
    return {"w": (inputs, outputs), "b": (outputs,)}


def expected_theta_shapes(arch: VeloArchitecture) -> dict:
    """Return the theta tree of `arch` with a shape tuple in place of every array."""
    size, inputs = arch.lstm_hidden_size, arch.lstm_input_size
    return {
        "ff_mod_stack": {"~": _ff_stack_shapes(arch)},
        "lstm_init_state": LstmState(hidden=(1, size), cell=(1, size)),
        "rnn_params": {
            "linear": _dense(inputs, size),
            "linear_1": _dense(inputs, size),
            "linear_2": _dense(inputs, size),
            "rnn/linear": _dense(2 * size, 4 * size),
            "rnn_to_controls": _dense(size, arch.param_inits),
            "step_size": _dense(size, 1),
        },
    }


def _leaf(theta, path: tuple[str, ...]):
    node = theta
    for key in path:
        if isinstance(node, LstmState):
            node = node._asdict()
        if not isinstance(node, dict) or key not in node:
            raise ValueError(
                f"theta has no entry {'/'.join(path)}. Received keys "
                f"{sorted(node) if isinstance(node, dict) else node!r}"
            )
        node = node[key]
    return node


def infer_architecture(theta) -> VeloArchitecture:
    """Infer the network sizes from the shapes of a theta tree."""
    stack = _leaf(theta, FF_STACK)
    hidden_state = np.shape(_leaf(theta, ("lstm_init_state", "hidden")))
    groups = sum(1 for key in stack if key.startswith("w0__"))
    layers = sum(1 for key in stack if key.startswith("b")) - 1
    if len(hidden_state) != 2 or groups == 0 or layers < 0:
        raise ValueError(
            "theta does not look like a VeLO network: lstm_init_state.hidden has "
            f"shape {hidden_state}, {groups} first-layer blocks w0__i, "
            f"{layers + 1} bias arrays b<k>."
        )
    b0 = np.shape(stack["b0"]) if "b0" in stack else (0, 0)
    last = np.shape(stack.get(f"b{layers}", np.zeros((0, 0))))
    return VeloArchitecture(
        lstm_hidden_size=int(hidden_state[1]),
        param_inits=int(b0[0]),
        ff_hidden_size=int(b0[1]),
        ff_hidden_layers=layers,
        lstm_input_size=int(np.shape(_leaf(theta, ("rnn_params", "linear", "w")))[0]),
        input_group_widths=tuple(
            int(np.shape(_leaf(stack, (f"w0__{i}",)))[1]) for i in range(groups)
        ),
        num_outputs=int(last[-1]) if last else 0,
    )


def check_supported(arch: VeloArchitecture) -> None:
    """Raise ValueError if this implementation cannot run `arch`."""
    fixed = {
        "input_group_widths": (arch.input_group_widths, INPUT_GROUP_WIDTHS),
        "lstm_input_size": (arch.lstm_input_size, LSTM_INPUT_SIZE),
        "num_outputs": (arch.num_outputs, NUM_MLP_OUTPUTS),
    }
    for field, (got, want) in fixed.items():
        if got != want:
            raise ValueError(
                f"VeLO {field} must be {want}: the input features are fixed by the "
                f"algorithm. Received: {field}={got}"
            )
    for field in ("lstm_hidden_size", "param_inits", "ff_hidden_size"):
        if getattr(arch, field) < 1:
            raise ValueError(f"{field} must be positive. Received: {arch}")


def check_theta(theta, arch: VeloArchitecture) -> None:
    """Raise ValueError naming the first theta leaf whose shape or dtype is wrong."""
    expected = expected_theta_shapes(arch)
    _check_keys(theta, expected, ())
    for path, shape in _walk(expected, ()):
        leaf = _leaf(theta, path)
        name = "/".join(path)
        dtype = getattr(leaf, "dtype", None)
        if dtype != np.float32:
            raise ValueError(f"theta leaf {name} must be float32. Received: {dtype}")
        if tuple(leaf.shape) != shape:
            raise ValueError(
                f"theta leaf {name} must have shape {shape} for {arch}. "
                f"Received: {tuple(leaf.shape)}"
            )


def _walk(tree, prefix: tuple[str, ...]):
    items = tree._asdict() if isinstance(tree, LstmState) else tree
    for key, value in items.items():
        if isinstance(value, dict | LstmState):
            yield from _walk(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _check_keys(theta, expected, prefix: tuple[str, ...]) -> None:
    node = _leaf(theta, prefix) if prefix else theta
    if isinstance(node, LstmState):
        node = node._asdict()
    if isinstance(expected, LstmState):
        expected = expected._asdict()
    if not isinstance(node, dict):
        raise ValueError(
            f"theta entry {'/'.join(prefix)} must be a mapping. "
            f"Received: {type(node).__name__}"
        )
    extra = sorted(set(node) - set(expected))
    if extra:
        where = "/".join(prefix) or "the top level"
        raise ValueError(f"theta has unexpected entries {extra} at {where}")
    for key, value in expected.items():
        if isinstance(value, dict | LstmState):
            _check_keys(theta, value, prefix + (key,))
