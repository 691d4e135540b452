"""The aiohttp application: the Bot API at `/bot<token>/<method>`, downloads at
`/file/bot<token>/<path>`, the user side under `/_local/`, and the web chat at `/`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from devstack.telegram.args import Args, Upload, as_text, read_args
from devstack.telegram.bot_api import METHODS, call_method
from devstack.telegram.errors import ApiError
from devstack.telegram.limits import RateLimitHit
from devstack.telegram.state import Bot, Options, Webhook, World
from devstack.telegram.user_api import WORLD, add_routes, dumps

log = logging.getLogger("devstack.telegram")
STATIC = Path(__file__).parent / "static"
SESSION = web.AppKey("webhook_session", aiohttp.ClientSession)
#: Methods a webhook reply may not call, as telegram-bot-api ignores them there.
_NOT_IN_WEBHOOK_REPLY = ("deletewebhook", "setwebhook", "close", "logout")


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


async def bot_api(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    name = request.match_info["method"]
    try:
        bot = world.bot_for_token(request.match_info["token"])
        if name.lower() not in METHODS:
            raise ApiError(404, "Not Found: method not found")
        args = await read_args(request)
        result, description = await call_method(world, bot, name, args)
    except ApiError as exc:
        return _answer(exc.body(), exc.code)
    except Exception as exc:  # a bug here must reach the bot as Telegram's 500, not a hang
        log.exception("%s failed", name)
        return _answer(
            {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc}"}, 500
        )
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return _answer(body)


async def download(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    try:
        world.bot_for_token(request.match_info["token"])
    except ApiError as exc:
        return _answer(exc.body(), exc.code)
    stored = world.files.by_path.get(request.match_info["path"])
    if stored is None:
        return _answer({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "application/octet-stream"
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


# --- webhooks ------------------------------------------------------------------------


async def _webhook_reply(response: aiohttp.ClientResponse) -> Args | None:
    """A method the bot answered the webhook with (JSON, form or multipart), if any."""
    values: dict[str, str] = {}
    files: dict[str, Upload] = {}
    kind = response.content_type
    if kind == "application/json":
        with contextlib.suppress(ValueError):
            body = await response.json(content_type=None)
            if isinstance(body, dict):
                values = {k: as_text(v) for k, v in body.items() if v is not None}
    elif kind == "application/x-www-form-urlencoded":
        values = dict(urllib.parse.parse_qsl(await response.text()))
    elif kind == "multipart/form-data":
        reader = aiohttp.MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            data = await part.read()
            if part.filename:
                files[part.name] = Upload(
                    part.name,
                    part.filename,
                    part.headers.get("Content-Type", "application/octet-stream"),
                    bytes(data),
                )
            else:
                values[part.name] = bytes(data).decode()
    method = values.get("method", "").lower()
    if not method or method in _NOT_IN_WEBHOOK_REPLY or method.startswith("get"):
        return None
    return Args(values, files)


async def deliver_webhook(
    world: World, bot: Bot, hook: Webhook, session: aiohttp.ClientSession
) -> None:
    """Post the bot's updates to its webhook one at a time, in order, until it changes.

    An update counts as delivered on a 2xx answer; otherwise the error goes to
    getWebhookInfo and the update is sent again after a pause."""
    pause = 0.2
    while bot.webhook is hook and not world.closing:
        if not bot.updates:
            changed = bot.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 5)
            continue
        update = bot.updates[0]
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        error = ""
        reply = None
        try:
            async with session.post(
                hook.url,
                data=dumps(update),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as response:
                if 200 <= response.status < 300:
                    reply = await _webhook_reply(response)
                else:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except aiohttp.ClientConnectorError:
            error = "Connection refused"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as exc:
            error = f"Webhook connection closed: {type(exc).__name__}"
        if error:
            hook.last_error_date, hook.last_error_message = int(time.time()), error
            world.events.emit("webhook_error", bot, None, url=hook.url, error=error)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
            continue
        pause = 0.2
        if bot.updates and bot.updates[0] is update:
            bot.updates.popleft()
        if reply is not None:
            name = reply.get("method")
            try:
                await call_method(world, bot, name, reply)
            except ApiError as exc:  # Telegram drops a failed webhook reply silently
                world.events.emit(
                    "webhook_reply_failed", bot, None, method=name, error=exc.description
                )


# --- the application -------------------------------------------------------------------


def create_app(world: World | None = None, options: Options | None = None) -> web.Application:
    """The local Bot API server as an aiohttp application around `world`."""
    world = world or World(options)
    app = web.Application(client_max_size=world.options.upload_limit + 1024 * 1024)
    app[WORLD] = world

    async def open_session(app: web.Application) -> None:
        session = aiohttp.ClientSession()
        app[SESSION] = session

        def run(bot: Bot) -> asyncio.Task[None]:
            assert bot.webhook is not None
            return asyncio.create_task(deliver_webhook(world, bot, bot.webhook, session))

        world.webhook_runner = run

    async def close(app: web.Application) -> None:
        world.closing = True
        world.events.wake_all()
        tasks = []
        for bot in world.bots.values():
            bot.wake()
            if bot.webhook is not None and bot.webhook.task is not None:
                bot.webhook.task.cancel()
                tasks.append(bot.webhook.task)
        for query in [*world.callbacks.values(), *world.checkouts.values()]:
            if not query.answer.done():
                query.answer.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app[SESSION].close()

    app.on_startup.append(open_session)
    app.on_shutdown.append(close)
    app.router.add_route("*", "/bot{token}/{method}", bot_api)
    app.router.add_get("/file/bot{token}/{path:.+}", download)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    add_routes(app)
    return app


class LocalTelegram:
    """The server on a port, in the running event loop.

    async with LocalTelegram() as telegram:
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.url)))
    """

    def __init__(
        self, options: Options | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.world = World(options)
        self.app = create_app(self.world)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        """Every 429 given so far."""
        return self.world.limiter.hits

    def add_bot(self, token: str, username: str = "", first_name: str = "") -> Bot:
        return self.world.add_bot(token, username, first_name)

    async def start(self) -> LocalTelegram:
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalTelegram:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
