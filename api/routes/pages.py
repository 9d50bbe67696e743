"""Serve the studio web page at / and its files under /static."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from web import static_dir

router = APIRouter(include_in_schema=False)

# The page is one file that routes by URL hash, so it needs no server templating.
INDEX = "index.html"


@router.get("/")
def index() -> FileResponse:
    return FileResponse(static_dir() / INDEX, headers={"Cache-Control": "no-cache"})


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """Return a file under the static folder, or 404 for anything outside it."""
    root = static_dir().resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(status_code=404, detail=f"No static file {path!r}")
    return FileResponse(target, headers={"Cache-Control": "no-cache"})
