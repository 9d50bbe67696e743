"""Turn a stored job config into the dataset and model arguments of TrainConfig."""

from typing import Any

from velotrain.settings import Settings


def train_sources(config: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Return TrainConfig's `dataset`, `model` and `hidden_sizes` for `config`.

    An uploaded dataset becomes a `UserDatasetSource` on its stored file; a layer
    spec a `LayerSpec`; an uploaded model a `KerasModelFile`.
    """
    from velo_core.layer_spec import KerasModelFile, parse_layer_spec
    from velo_core.user_data import UserDatasetSource

    dataset: Any = config["dataset"]
    uploaded = config.get("user_dataset")
    if uploaded is not None:
        dataset = UserDatasetSource(
            path=str(settings.datasets_dir / uploaded["file_name"]),
            label=uploaded["label"],
            task=uploaded["task"],
            name=uploaded["name"],
        )
    model: Any = config["model"]
    if config.get("layers") is not None:
        model = parse_layer_spec({"layers": config["layers"]})
    elif config.get("model_file") is not None:
        sha256 = config["model_file"]["sha256"]
        model = KerasModelFile(str(settings.models_dir / f"{sha256}.keras"))
    return {
        "dataset": dataset,
        "model": model,
        "hidden_sizes": config.get("hidden_sizes"),
    }
