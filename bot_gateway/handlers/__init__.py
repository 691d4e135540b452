"""One router per feature; `routers()` lists them in the order they are tried."""

from __future__ import annotations

from aiogram import Router

from bot_gateway.handlers import account, fallback, generate, history, start


def routers() -> list[Router]:
    """Feature routers first, the fallback (anything unhandled) last."""
    return [
        start.create_router(),
        account.create_router(),
        generate.create_router(),
        history.create_router(),
        fallback.create_router(),
    ]
