"""The studio web page: static HTML, CSS and JavaScript served by the API."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"


def static_dir() -> Path:
    """Return the folder holding the page's static files."""
    return STATIC_DIR
