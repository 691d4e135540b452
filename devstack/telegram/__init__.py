"""A local Telegram for development and tests: a Bot API server that speaks the real Bot API
(aiogram talks to it unchanged over TELEGRAM_API_URL), a user side under `/_local/`, and a web
chat at `/` where a person can talk to the bot.

    async with LocalTelegram() as telegram:   # port 0 in the running event loop
        telegram.url                           # -> TelegramAPIServer.from_base(telegram.url)

`python -m devstack.telegram` runs it standalone and prints the web chat's address.
"""

from devstack.telegram.initdata import sign_init_data
from devstack.telegram.limits import Limits, RateLimitHit
from devstack.telegram.server import LocalTelegram, create_app
from devstack.telegram.state import Options, World

__all__ = [
    "Limits",
    "LocalTelegram",
    "Options",
    "RateLimitHit",
    "World",
    "create_app",
    "sign_init_data",
]
