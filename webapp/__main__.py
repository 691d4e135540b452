"""`python -m webapp`: the cabinet and admin page, listening on WEBAPP_ADDR."""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn
import uvloop
from fastapi import FastAPI

from common.logs import setup_logging
from common.settings import load_settings
from webapp.app import create_app
from webapp.settings import WebSettings

log = logging.getLogger("webapp")


def server(settings: WebSettings, app: FastAPI | None = None) -> uvicorn.Server:
    """uvicorn serving `app` (by default the web app of `settings`) on WEBAPP_ADDR."""
    host, _, port = settings.WEBAPP_ADDR.rpartition(":")
    config = uvicorn.Config(
        app or create_app(settings),
        host=host.strip("[]"),
        port=int(port),
        loop="none",
        http="httptools",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
        # Request lines can carry a cabinet link's token: no access log.
        access_log=False,
        log_config=None,
        server_header=False,
        backlog=4096,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def main() -> None:
    settings = load_settings(WebSettings)
    setup_logging(settings.LOG_LEVEL)
    log.info("web app starting", extra={"address": settings.WEBAPP_ADDR})
    uvloop.install()
    serving = server(settings)
    # What start-up made (modules, the app) lives as long as the process: keep it out of
    # the collector's full passes, which otherwise rescan it as live streams pile up.
    gc.collect()
    gc.freeze()
    asyncio.run(serving.serve())


if __name__ == "__main__":
    main()
