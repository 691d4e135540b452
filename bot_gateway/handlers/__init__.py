"""One router per feature; `routers()` lists them in the order they are tried."""

from __future__ import annotations

from aiogram import Router

from bot_gateway.handlers import account, admin, buy, fallback, generate, history, start


def routers() -> list[Router]:
    """Feature routers first, the fallback (anything unhandled) last; the admin router
    passes on everyone not in ADMIN_IDS, so they reach the fallback like any unknown
    command."""
    return [
        start.create_router(),
        account.create_router(),
        generate.create_router(),
        history.create_router(),
        buy.create_router(),
        admin.create_router(),
        fallback.create_router(),
    ]
