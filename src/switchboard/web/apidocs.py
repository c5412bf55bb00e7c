"""`/docs`: Swagger UI served from the installed `fastapi-offline` package, so the API docs
open without internet access (FastAPI's default loads the UI from a CDN). The page is behind
the admin token like `/openapi.json`; the UI's own files are public library code."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response

from switchboard.web import security

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    import fastapi_offline

    # The package's own static folder (Swagger UI 5, which reads OpenAPI 3.1).
    return Path(fastapi_offline.__file__).parent / "static"


@router.get("/docs")
async def docs(_: None = Depends(security.require_admin)) -> Response:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Switchboard API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    resp = FileResponse(assets_dir() / name, media_type=ASSETS[name])
    resp.headers["Cache-Control"] = "public, max-age=86400"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
