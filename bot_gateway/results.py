"""Sending a job's result to its chat: by the Telegram file_id when it was sent
before (no upload), else downloaded from the object store and uploaded — as a
photo or video, as a document when Telegram would not take it as one, or, past
the Bot API server's upload limit, as a link to the cabinet.

Why download and upload rather than hand Telegram the presigned URL: the object
store sits on the services' network, which the cloud Bot API cannot reach (and it
takes photos by URL only up to 5 MB, other files up to 20 MB), while a local
telegram-bot-api or a test server may not fetch URLs at all. Uploading works with
every Bot API server, and TELEGRAM_UPLOAD_LIMIT_MB alone decides what goes as a
file; the price is the bytes passing through the gateway, bounded by a few
downloads at a time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway import keyboards
from bot_gateway.describe import caption
from bot_gateway.memory import JobMemory
from bot_gateway.services import Services
from bot_gateway.settings import BotSettings
from bot_gateway.texts import t

log = logging.getLogger(__name__)

#: Telegram's limits of a photo: 10 MB, width + height at most 10,000, sides at most 1:20.
_PHOTO_BYTES = 10 * 1024 * 1024
_PHOTO_SIDES = 10_000
_PHOTO_RATIO = 20
#: Downloads from the object store at once (each holds a file in memory).
_DOWNLOADS = 4
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


@dataclass(frozen=True)
class Sent:
    """How one result file went out: its key, its Telegram file_id (empty for a link)
    and how it was sent (photo, video, document, link)."""

    key: str
    file_id: str
    kind: str


def _as_photo(file: pb.ResultFile) -> bool:
    if not file.mime_type.startswith("image/") or file.size_bytes > _PHOTO_BYTES:
        return False
    w, h = file.width, file.height
    return not (w and h and (w + h > _PHOTO_SIDES or max(w, h) > _PHOTO_RATIO * min(w, h)))


def _file_of(key: str, message: Message) -> Sent:
    if message.photo:
        return Sent(key, message.photo[-1].file_id, "photo")
    if message.video:
        return Sent(key, message.video.file_id, "video")
    if message.document:
        return Sent(key, message.document.file_id, "document")
    return Sent(key, "", "link")


def _kind_of(file: pb.ResultFile) -> str:
    """How a result is sent when nothing goes wrong."""
    if _as_photo(file):
        return "photo"
    return "video" if file.mime_type.startswith("video/") else "document"


class Results:
    """Sends results; remembers each one's file_id."""

    def __init__(self, services: Services, memory: JobMemory, settings: BotSettings) -> None:
        self._services = services
        self._memory = memory
        self._settings = settings
        self._limit = settings.TELEGRAM_UPLOAD_LIMIT_MB * 1024 * 1024
        self._downloads = asyncio.Semaphore(_DOWNLOADS)
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300))
        return self._http

    async def send(
        self, bot: Bot, chat: int, job: pb.Job, markup: InlineKeyboardMarkup | None = None
    ) -> list[Sent]:
        """Each result file of a succeeded job into `chat`, captioned: by its Telegram
        file_id when one is known (AckDelivery records them in job_svc, and the bot
        remembers them too), else downloaded and uploaded."""
        markup = markup if markup is not None else keyboards.result(job.id)
        text = caption(job)
        note = await self._memory.get(job.id)
        known = {f.key: f.telegram_file_id for f in job.results if f.telegram_file_id}
        if note is not None and note.file_id and job.results:
            known.setdefault(job.results[0].key, note.file_id)
        sent: list[Sent] = []
        for file in job.results:
            file_id = known.get(file.key)
            if not file_id:
                continue
            kind = note.file_kind if note is not None and note.file_kind else _kind_of(file)
            try:
                sent.append(await self._by_file_id(bot, chat, file.key, file_id, kind, text,
                                                   markup))  # fmt: skip
            except TelegramBadRequest as exc:  # a file_id Telegram no longer knows
                log.info("file_id refused; uploading again",
                         extra={"job": job.id, "error": exc.message})  # fmt: skip
        done = {s.key for s in sent}
        if job.results and len(done) == len(job.results):
            return sent
        urls = await self._services.call(
            self._services.jobs.GetResultUrls,
            pb.GetResultUrlsRequest(job_id=job.id, telegram_id=job.telegram_id),
        )
        for url in urls.urls:  # one file per job today; each would go in turn
            if url.file.key not in done:
                sent.append(await self._upload(bot, chat, job, url, text, markup))
        return sent

    @staticmethod
    async def _by_file_id(
        bot: Bot,
        chat: int,
        key: str,
        file_id: str,
        kind: str,
        text: str,
        markup: InlineKeyboardMarkup,
    ) -> Sent:
        if kind == "photo":
            message = await bot.send_photo(chat, file_id, caption=text, reply_markup=markup)
        elif kind == "video":
            message = await bot.send_video(chat, file_id, caption=text, reply_markup=markup)
        else:
            message = await bot.send_document(chat, file_id, caption=text, reply_markup=markup)
        return _file_of(key, message)

    async def _upload(
        self,
        bot: Bot,
        chat: int,
        job: pb.Job,
        url: pb.ResultUrl,
        text: str,
        markup: InlineKeyboardMarkup,
    ) -> Sent:
        file = url.file
        if file.size_bytes > self._limit:
            return await self._link(bot, chat, job, file.key, text)
        data = await self._download(url.url)
        if len(data) > self._limit:
            return await self._link(bot, chat, job, file.key, text)
        name = f"{job.id[:8]}.{_EXTENSIONS.get(file.mime_type, 'bin')}"
        upload = BufferedInputFile(data, filename=name)
        if _as_photo(file):
            try:
                message = await bot.send_photo(chat, upload, caption=text, reply_markup=markup)
                return _file_of(file.key, message)
            except TelegramBadRequest as exc:  # e.g. dimensions Telegram refuses for photos
                log.info("photo refused; sending as a file",
                         extra={"job": job.id, "error": exc.message})  # fmt: skip
        elif file.mime_type.startswith("video/"):
            try:
                message = await bot.send_video(
                    chat, upload, caption=text, reply_markup=markup,
                    width=file.width or None, height=file.height or None,
                    supports_streaming=True,
                )  # fmt: skip
                return _file_of(file.key, message)
            except TelegramBadRequest as exc:
                log.info("video refused; sending as a file",
                         extra={"job": job.id, "error": exc.message})  # fmt: skip
        message = await bot.send_document(chat, upload, caption=text, reply_markup=markup)
        return _file_of(file.key, message)

    async def _download(self, url: str) -> bytes:
        """The file's bytes; cut after the upload limit (the caller then links to it)."""
        parts: list[bytes] = []
        size = 0
        async with self._downloads, self._session().get(url) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(256 * 1024):
                parts.append(chunk)
                size += len(chunk)
                if size > self._limit:
                    break
        return b"".join(parts)

    async def _link(self, bot: Bot, chat: int, job: pb.Job, key: str, text: str) -> Sent:
        """A result too large for the Bot API server: a button to the cabinet."""
        base = keyboards.cabinet_url(
            self._settings.WEBAPP_BASE_URL,
            self._settings.WEBAPP_SECRET.get_secret_value(),
            chat,
            self._settings.CABINET_LINK_TTL_SECONDS,
        )
        builder = InlineKeyboardBuilder()
        builder.row(keyboards.cabinet_button(f"{base}&job={job.id}"))
        builder.attach(InlineKeyboardBuilder.from_markup(keyboards.result(job.id)))
        await bot.send_message(
            chat, f"{text}\n\n{t('bot.gen.too_large')}", reply_markup=builder.as_markup()
        )
        return Sent(key, "", "link")
