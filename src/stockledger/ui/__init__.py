"""The ops console: a single-page app at /ui/, served from files inside this package.

No build step and no CDN: the page is plain HTML, CSS and ES modules (`static/`), installed as
package data. Every path under /ui/ answers the same page and its script draws the page the
path names, so a deep link (`/ui/stock/SKU-1/WH-A?at=...`) loads like the start page; the
scripts and styles are under /ui/assets/. Loading it needs no key: the page asks for one, keeps
it in sessionStorage and sends it as `Authorization: Bearer` on every data call it makes to
the API of the same origin. The Content-Security-Policy lets the page load and connect to
nothing but this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def install(app: FastAPI) -> None:
    """Serve the console: /ui/assets/* as files, every other /ui/ path as the page."""
    page = (STATIC / "index.html").read_bytes()
    app.mount("/ui/assets", StaticFiles(directory=STATIC / "assets"), name="ui-assets")

    @app.get("/ui", include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/ui/", status_code=308)

    @app.get("/ui/{path:path}", include_in_schema=False)
    async def console_page(path: str) -> Response:
        """The one page of the console, whatever page under /ui/ the path names."""
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
