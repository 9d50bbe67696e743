import re
import subprocess
import sys
from pathlib import Path

import velo_core

PROBE = """
import sys
import velo_core
import velo_core.catalog
import velo_core.config
heavy = sorted({"jax", "keras", "tensorflow", "sklearn"} & set(sys.modules))
print(",".join(heavy))
"""


def test_import_velo_core_stays_light():
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def readme_public_names() -> list[str]:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    paragraph = readme.split("Public names of `velo_core`:", 1)[1].split("\n\n")[0]
    return sorted(re.findall(r"`(\w+)`", paragraph))


def test_public_surface_matches_readme():
    assert velo_core.__all__ == readme_public_names()


def test_public_surface_names_resolve():
    for name in velo_core.__all__:
        assert getattr(velo_core, name) is not None, name


def test_public_surface_unknown_name_raises():
    try:
        velo_core.not_a_name  # noqa: B018
    except AttributeError as error:
        assert "not_a_name" in str(error)
    else:
        raise AssertionError("velo_core.not_a_name resolved")
