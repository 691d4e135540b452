"""`python -m benchmarks.webserver`: the web app exactly as `python -m webapp` serves it, plus
one bare FastAPI route (`GET /bench/bare`) in the same process, the ceiling of the cabinet's
routes on this host."""

from __future__ import annotations

import asyncio
import gc

import uvloop

from common.logs import setup_logging
from common.settings import load_settings
from webapp.__main__ import server
from webapp.app import create_app
from webapp.settings import WebSettings


async def bare() -> dict[str, bool]:
    """No session, no service: what FastAPI, uvicorn and the middleware cost alone."""
    return {"ok": True}


def main() -> None:
    settings = load_settings(WebSettings)
    setup_logging(settings.LOG_LEVEL)
    app = create_app(settings)
    app.add_api_route("/bench/bare", bare, methods=["GET"])
    uvloop.install()
    serving = server(settings, app)
    gc.collect()
    gc.freeze()  # as python -m webapp does
    asyncio.run(serving.serve())


if __name__ == "__main__":
    main()
