"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with their
scripts, style sheet and icon served by the gateway itself rather than from a CDN: they work
on a machine without internet. The files come from the fastapi-offline package; the pages
are FastAPI's own, built as its guide to self-hosting them does."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
# swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
ASSETS_PACKAGE = ("fastapi_offline", "static")


def add_docs(api: FastAPI) -> None:
    """The pages and their files, on an API made with `docs_url=None, redoc_url=None`. Like
    the OpenAPI schema they describe, they need no API key."""
    api.mount(ASSETS_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
    openapi_url = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}", title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # Swagger UI's default would have browsers send the schema's URL to
            # validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}", title=f"{api.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
