"""`python -m devstack.telegram`: the local Bot API server and its web chat, standalone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from devstack.telegram.limits import Limits
from devstack.telegram.server import LocalTelegram
from devstack.telegram.state import TOKEN_SHAPE, Options


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument(
        "--bot",
        action="append",
        default=[],
        metavar="TOKEN[=USERNAME]",
        help="register a bot (any token of the right shape also works on its first call)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="telegram-bot-api --local: 2000 MB uploads, no getFile cap, http webhooks",
    )
    parser.add_argument("--no-limits", action="store_true", help="never answer 429")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    options = Options(local_mode=args.local, limits=Limits(enabled=not args.no_limits))
    telegram = LocalTelegram(options, host=args.host, port=args.port)
    for spec in args.bot:
        token, _, username = spec.partition("=")
        if not TOKEN_SHAPE.fullmatch(token):
            raise SystemExit(f"config error: --bot: not a bot token: {token!r}")
        telegram.add_bot(token, username)
    await telegram.start()
    print(
        f"local Telegram: Bot API  {telegram.url}  (TELEGRAM_API_URL)\n"
        f"                web chat {telegram.url}/",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await telegram.stop()


def main(argv: list[str] | None = None) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
