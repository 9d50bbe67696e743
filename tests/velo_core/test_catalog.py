from velo_core import catalog


def test_catalog_conv_supports_only_images():
    assert catalog.supported_models("digits") == ["linear", "mlp", "conv"]
    assert catalog.supported_models("wine") == ["linear", "mlp"]


def test_catalog_tasks():
    tasks = {name: info.task for name, info in catalog.DATASETS.items()}
    assert tasks.pop("diabetes") == catalog.REGRESSION
    assert set(tasks.values()) == {catalog.CLASSIFICATION}


def test_catalog_only_digits_is_an_image_dataset():
    images = [name for name, info in catalog.DATASETS.items() if info.is_image_8x8]
    assert images == ["digits"]
