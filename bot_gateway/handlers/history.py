"""/history: the user's recent jobs with their status, a page at a time, each
finished one with a button that sends its result again (by file_id when it was
sent before: no second upload)."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway.callbacks import HistoryPage, JobButton, Menu
from bot_gateway.describe import job_settings, short, status_word, when
from bot_gateway.memory import JobMemory
from bot_gateway.replies import expired, say
from bot_gateway.results import Results
from bot_gateway.services import Services
from bot_gateway.texts import t
from common.errors import JobNotFound, JobNotSucceeded

#: Jobs on a page.
PAGE_SIZE = 5
#: How long the page tokens of a user's browsing are kept (callback data is too
#: short for them: buttons carry the page number).
_PAGES_SECONDS = 24 * 3600


def _pages_key(telegram_id: int) -> str:
    return f"bot:history:{telegram_id}"


async def _page(
    telegram_id: int, page: int, services: Services, redis: aioredis.Redis
) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """The text and buttons of page `page`; None when its token is forgotten."""
    token = ""
    if page > 0:
        stored = await redis.hget(_pages_key(telegram_id), str(page))
        if stored is None:
            return None
        token = stored.decode() if isinstance(stored, bytes) else str(stored)
    answer = await services.call(
        services.jobs.ListJobs,
        pb.ListJobsRequest(telegram_id=telegram_id, page_size=PAGE_SIZE, page_token=token),
    )
    if answer.next_page_token:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(_pages_key(telegram_id), str(page + 1), answer.next_page_token)
            pipe.expire(_pages_key(telegram_id), _PAGES_SECONDS)
            await pipe.execute()
    if not answer.jobs and page == 0:
        return t("bot.gen.history.empty"), None
    lines = [t("bot.gen.history.title", page=page + 1)]
    builder = InlineKeyboardBuilder()
    for number, job in enumerate(answer.jobs, start=page * PAGE_SIZE + 1):
        created = when(job.created_at)
        lines.append(
            t(
                "bot.gen.history.line",
                n=number,
                settings=job_settings(job),
                status=status_word(job.status),
                cost=job.cost,
                date=created.strftime("%Y-%m-%d %H:%M UTC") if created else "",
                prompt=short(job.prompt, 80),
            )
        )
        if job.status == pb.JOB_STATUS_SUCCEEDED:
            builder.button(text=t("bot.gen.history.again", n=number),
                           callback_data=JobButton(action="again", job=job.id))  # fmt: skip
    builder.adjust(PAGE_SIZE)
    nav = InlineKeyboardBuilder()
    if page > 0:
        nav.button(text=t("bot.gen.history.newer"), callback_data=HistoryPage(page=page - 1))
    if answer.next_page_token:
        nav.button(text=t("bot.gen.history.older"), callback_data=HistoryPage(page=page + 1))
    builder.attach(nav)
    return "\n\n".join(lines), builder.as_markup()


async def history(
    event: Message | CallbackQuery, services: Services, redis: aioredis.Redis
) -> None:
    """/history and the menu's History: the newest page."""
    assert event.from_user is not None
    shown = await _page(event.from_user.id, 0, services, redis)
    assert shown is not None
    text, markup = shown
    if isinstance(event, CallbackQuery):
        await event.answer()
        if isinstance(event.message, Message):
            await event.message.answer(text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


async def turn(
    query: CallbackQuery, callback_data: HistoryPage, services: Services, redis: aioredis.Redis
) -> None:
    """Another page, in the same message."""
    if callback_data.page < 0 or not isinstance(query.message, Message):
        await expired(query)
        return
    shown = await _page(query.from_user.id, callback_data.page, services, redis)
    if shown is None:
        await expired(query)
        return
    await query.answer()
    text, markup = shown
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            raise


async def again(
    query: CallbackQuery,
    callback_data: JobButton,
    services: Services,
    results: Results,
    memory: JobMemory,
    bot: Bot,
) -> None:
    """A result once more: by its file_id when it was sent before, else uploaded."""
    job_id = callback_data.job_id()
    if job_id is None:
        await expired(query)
        return
    request = pb.GetJobRequest(job_id=job_id, telegram_id=query.from_user.id)
    try:
        job = (await services.call(services.jobs.GetJob, request)).job
    except JobNotFound:
        await say(query, t("bot.gen.not_yours"))
        return
    if job.status != pb.JOB_STATUS_SUCCEEDED:
        await say(query, t("bot.gen.history.no_result"))
        return
    await say(query, t("bot.gen.history.sending"))
    try:
        sent = await results.send(bot, query.from_user.id, job)
    except (JobNotFound, JobNotSucceeded):
        await say(query, t("bot.gen.history.no_result"))
        return
    if sent and sent[0].file_id:
        await memory.resent(job.id, sent[0].file_id, sent[0].kind)


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="history")
    router.message.register(history, Command("history"))
    router.callback_query.register(history, Menu.filter(F.item == "history"))
    router.callback_query.register(turn, HistoryPage.filter())
    router.callback_query.register(again, JobButton.filter(F.action == "again"))
    return router
