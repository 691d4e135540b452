"""Admin commands for ADMIN_IDS: /stats, /user, /grant, /ban, /unban, /refund, /job,
/retry, /broadcast (and /admin listing them).

Everyone else passes the router's filter untouched and meets the fallback, which
answers an unknown command: nobody learns that these exist. Every call goes
through the admin stubs, which name the admin (`x-actor: tg:<id>`) for the audit
log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb

from bot_gateway import broadcast
from bot_gateway.callbacks import BroadcastChoice
from bot_gateway.payments import day
from bot_gateway.services import Services
from bot_gateway.settings import BotSettings
from bot_gateway.states import Broadcasting
from bot_gateway.tasks import cancel_and_wait
from bot_gateway.texts import t
from common.errors import DomainError

log = logging.getLogger(__name__)

#: Telegram's refusal of a refund whose Stars went back already.
_ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
#: Most users /user lists for a username prefix, and payments it shows.
_FOUND_MAX = 10
_PAYMENTS_SHOWN = 5
_STATUS_NAMES = {
    jpb.JOB_STATUS_QUEUED: "queued",
    jpb.JOB_STATUS_RUNNING: "running",
    jpb.JOB_STATUS_SUCCEEDED: "succeeded",
    jpb.JOB_STATUS_FAILED: "failed",
    jpb.JOB_STATUS_CANCELLED: "cancelled",
}
_KIND_NAMES = {jpb.JOB_KIND_IMAGE: "image", jpb.JOB_KIND_EDIT: "edit", jpb.JOB_KIND_VIDEO: "video"}

Handler = Callable[..., Awaitable[None]]


class IsAdmin(Filter):
    """The sender is in ADMIN_IDS."""

    async def __call__(self, event: TelegramObject, settings: BotSettings) -> bool:
        user = getattr(event, "from_user", None)
        return user is not None and user.id in settings.ADMIN_IDS


def refusal_words(error: DomainError) -> str:
    """A refusal as an admin reads it: chosen by its reason, with its figures."""
    key = f"bot.admin.refusal.{error.reason.lower()}"
    with contextlib.suppress(KeyError, IndexError, ValueError):
        said = t(key, **error.figures)
        if not said.startswith(key):  # a reason with words of its own
            return said
    return t("bot.admin.refusal.other", reason=error.reason)


def answers_refusals(handler: Handler) -> Handler:
    """A refusal of an admin call is answered in admin words, not the users' ones."""

    @functools.wraps(handler)
    async def answering(event: Message | CallbackQuery, *args: Any, **kwargs: Any) -> None:
        try:
            await handler(event, *args, **kwargs)
        except DomainError as error:
            log.info("admin call refused", extra={"reason": error.reason})
            message = event if isinstance(event, Message) else event.message
            if isinstance(event, CallbackQuery):
                await event.answer()
            if message is not None:
                await message.answer(refusal_words(error))

    return answering


def _words(command: CommandObject) -> list[str]:
    return (command.args or "").split()


def _telegram_id(word: str) -> int | None:
    return int(word) if word.isdigit() and 0 < int(word) < 2**53 else None


def _admin(message: Message | CallbackQuery) -> int:
    assert message.from_user is not None
    return message.from_user.id


async def help_(message: Message) -> None:
    await message.answer(t("bot.admin.help"))


@answers_refusals
async def stats(message: Message, services: Services) -> None:
    """Users, payers, subscriptions, Stars; jobs by status and provider, queue, failures."""
    me = _admin(message)
    money, jobs = await asyncio.gather(
        services.call(services.admin_billing(me).GetStats, bpb.GetStatsRequest()),
        services.call(services.admin_jobs(me).GetJobStats, jpb.GetJobStatsRequest()),
    )
    by_status: dict[str, int] = dict.fromkeys(_STATUS_NAMES.values(), 0)
    for count in jobs.counts:
        name = _STATUS_NAMES.get(count.status)
        if name:
            by_status[name] += count.count
    finished = sum(p.finished for p in jobs.providers)
    failed = sum(p.failed for p in jobs.providers)
    lines = [
        t("bot.admin.stats.users", total=money.users_total, new=money.users_new_24h,
          banned=money.users_banned),
        t("bot.admin.stats.money", paying=money.paying_users, pro=money.pro_users,
          stars=money.stars_revenue, payments=money.payments_total),
        t("bot.admin.stats.credits", outstanding=money.credits_outstanding,
          held=money.credits_held),
        t("bot.admin.stats.jobs", **by_status),
    ]  # fmt: skip
    lines += [
        t("bot.admin.stats.provider", provider=p.provider, finished=p.finished, failed=p.failed,
          rate=f"{100 * p.failure_rate:.1f}")
        for p in jobs.providers
    ]  # fmt: skip
    rate = f"{100 * failed / finished:.1f}" if finished else "0.0"
    lines.append(t("bot.admin.stats.queue", depth=jobs.queue_depth, rate=rate))
    await message.answer("\n".join(lines))


def _user_card(user: bpb.User, payments: list[bpb.Payment]) -> str:
    tier = t("bot.admin.user.pro", until=day(user.pro_until)) if user.tier == bpb.TIER_PRO \
        else t("bot.admin.user.free")  # fmt: skip
    lines = [
        t("bot.admin.user.head", id=user.telegram_id, username=user.username or "—",
          language=user.language),
        t("bot.admin.user.money", balance=user.balance, tier=tier),
        t("bot.admin.user.banned") if user.banned else t("bot.admin.user.active"),
        t("bot.admin.user.joined", joined=day(user.created_at), referrals=user.referral_count,
          referrer=user.referrer_id or "—"),
    ]  # fmt: skip
    if user.monthly_charge_id:
        lines.append(t("bot.admin.user.monthly", charge=user.monthly_charge_id))
    if payments:
        lines.append(t("bot.admin.user.payments"))
    for payment in payments:
        key = "bot.admin.user.payment_refunded" if payment.refunded else "bot.admin.user.payment"
        lines.append(t(key, date=day(payment.created_at), product=payment.product_id,
                       stars=payment.amount, credits=payment.credits_granted,
                       charge=payment.telegram_payment_charge_id))  # fmt: skip
    return "\n".join(lines)


@answers_refusals
async def user(message: Message, command: CommandObject, services: Services) -> None:
    """/user <id|@username>: the account, its tier, ban and latest payments."""
    words = _words(command)
    if len(words) != 1:
        await message.answer(t("bot.admin.usage.user"))
        return
    stub = services.admin_billing(_admin(message))
    query = words[0].lstrip("@")[:64]
    found = (
        await services.call(stub.FindUsers, bpb.FindUsersRequest(query=query, page_size=_FOUND_MAX))
    ).users
    exact = [u for u in found if str(u.telegram_id) == query or u.username.lower() == query.lower()]
    if not found:
        await message.answer(t("bot.admin.user.none", query=words[0]))
        return
    if len(exact) != 1:
        listed = "\n".join(f"{u.telegram_id} @{u.username or '—'}" for u in found)
        await message.answer(t("bot.admin.user.several", users=listed))
        return
    person = exact[0]
    payments = await services.call(
        stub.ListPayments,
        bpb.ListPaymentsRequest(telegram_id=person.telegram_id, page_size=_PAYMENTS_SHOWN),
    )
    await message.answer(_user_card(person, list(payments.payments)))


@answers_refusals
async def grant(message: Message, command: CommandObject, services: Services) -> None:
    """/grant <id> <amount> <reason>: idempotent on the command message, so a
    redelivered update grants nothing twice."""
    words = (command.args or "").split(maxsplit=2)
    target = _telegram_id(words[0]) if words else None
    amount = words[1] if len(words) > 1 else ""
    if target is None or len(words) < 3 or not amount.lstrip("-").isdigit() or int(amount) == 0:
        await message.answer(t("bot.admin.usage.grant"))
        return
    me = _admin(message)
    answer = await services.call(
        services.admin_billing(me).GrantCredits,
        bpb.GrantCreditsRequest(
            telegram_id=target, amount=int(amount), reason=words[2][:200],
            idempotency_key=f"tg:{me}:{message.chat.id}:{message.message_id}",
        ),
    )  # fmt: skip
    await message.answer(t("bot.admin.grant.done", amount=int(amount), id=target,
                           balance=answer.balance))  # fmt: skip


async def _set_banned(
    message: Message, command: CommandObject, services: Services, banned: bool
) -> None:
    words = (command.args or "").split(maxsplit=1)
    target = _telegram_id(words[0]) if words else None
    if target is None:
        await message.answer(t("bot.admin.usage.ban" if banned else "bot.admin.usage.unban"))
        return
    reason = words[1][:200] if len(words) > 1 else ""
    await services.call(
        services.admin_billing(_admin(message)).SetBanned,
        bpb.SetBannedRequest(telegram_id=target, banned=banned, reason=reason),
    )
    await message.answer(t("bot.admin.ban.done" if banned else "bot.admin.unban.done", id=target))


@answers_refusals
async def ban(message: Message, command: CommandObject, services: Services) -> None:
    """/ban <id> [reason]: the user can neither generate nor pay."""
    await _set_banned(message, command, services, True)


@answers_refusals
async def unban(message: Message, command: CommandObject, services: Services) -> None:
    await _set_banned(message, command, services, False)


@answers_refusals
async def refund(message: Message, command: CommandObject, services: Services, bot: Bot) -> None:
    """/refund <charge_id> [reason]: billing takes back the credits first, then
    Telegram returns the Stars.

    In this order nothing is given away: billing refuses, before Telegram is
    asked, when the credits are spent (in the same transaction that would take
    them, so no job can slip in between). Both halves are safe to repeat: billing
    answers a refunded payment as it is, Telegram says the Stars went back already.
    So when Telegram fails after billing's half, the same command finishes it.
    """
    words = (command.args or "").split(maxsplit=1)
    if not words:
        await message.answer(t("bot.admin.usage.refund"))
        return
    charge, me = words[0][:256], _admin(message)
    reason = words[1][:200] if len(words) > 1 else f"refund by tg:{me}"
    answer = await services.call(
        services.admin_billing(me).RefundPayment,
        bpb.RefundPaymentRequest(telegram_payment_charge_id=charge, reason=reason),
    )
    payment = answer.payment
    try:
        await bot.refund_star_payment(payment.telegram_id, charge)
    except TelegramBadRequest as exc:
        if _ALREADY_REFUNDED in exc.message:
            await message.answer(t("bot.admin.refund.already", charge=charge,
                                   id=payment.telegram_id))  # fmt: skip
            return
        log.warning("stars not refunded", extra={"charge": charge, "error": exc.message})
        await message.answer(t("bot.admin.refund.telegram_failed", charge=charge,
                               error=exc.message))  # fmt: skip
        return
    await message.answer(t("bot.admin.refund.done", stars=payment.amount, id=payment.telegram_id,
                           credits=answer.credits_debited))  # fmt: skip


def _job_card(job: jpb.Job) -> str:
    lines = [
        t("bot.admin.job.head", id=job.id, owner=job.telegram_id,
          kind=_KIND_NAMES.get(job.kind, "?"),
          quality="PRO" if job.quality == jpb.QUALITY_PRO else "standard"),
        t("bot.admin.job.state", status=_STATUS_NAMES.get(job.status, "?"),
          provider=job.provider, cost=job.cost, attempts=job.attempts),
        t("bot.admin.job.prompt", prompt=job.prompt[:300]),
    ]  # fmt: skip
    if job.error:
        lines.append(t("bot.admin.job.error", error=job.error))
    if job.retry_of:
        lines.append(t("bot.admin.job.retry_of", id=job.retry_of))
    return "\n".join(lines)


@answers_refusals
async def job(message: Message, command: CommandObject, services: Services) -> None:
    """/job <id>: any user's job."""
    words = _words(command)
    if len(words) != 1:
        await message.answer(t("bot.admin.usage.job"))
        return
    answer = await services.call(
        services.admin_jobs(_admin(message)).GetJob, jpb.GetJobRequest(job_id=words[0][:64])
    )
    await message.answer(_job_card(answer.job))


@answers_refusals
async def retry(message: Message, command: CommandObject, services: Services) -> None:
    """/retry <id>: a failed or cancelled job again, as a new job charged to its owner."""
    words = _words(command)
    if len(words) != 1:
        await message.answer(t("bot.admin.usage.retry"))
        return
    answer = await services.call(
        services.admin_jobs(_admin(message)).RetryJob, jpb.RetryJobRequest(job_id=words[0][:64])
    )
    await message.answer(t("bot.admin.retry.done", old=words[0], id=answer.job.id,
                           status=_STATUS_NAMES.get(answer.job.status, "?")))  # fmt: skip


async def broadcast_start(message: Message, state: FSMContext, redis: aioredis.Redis) -> None:
    """/broadcast: the progress of the running one, else ask for the message."""
    running = await broadcast.current(redis)
    if running is not None:
        done = await broadcast.progress(redis, running)
        await message.answer(t("bot.admin.broadcast.running", sent=done.sent, failed=done.failed,
                               blocked=done.blocked))  # fmt: skip
        return
    await state.set_state(Broadcasting.writing)
    await message.answer(t("bot.admin.broadcast.ask"))


@answers_refusals
async def broadcast_draft(
    message: Message, state: FSMContext, services: Services, bot: Bot
) -> None:
    """The admin's text or photo: shown back as people will see it, with the audience."""
    draft = broadcast.Broadcast.of(_admin(message), message)
    if draft is None:
        await message.answer(t("bot.admin.broadcast.ask"))
        return
    totals = await services.call(
        services.admin_billing(_admin(message)).GetStats, bpb.GetStatsRequest()
    )
    await state.set_state(Broadcasting.confirming)
    await state.update_data(draft=draft.__dict__)
    await draft.send(bot, message.chat.id)
    choice = InlineKeyboardBuilder()
    choice.button(text=t("bot.admin.broadcast.send"), callback_data=BroadcastChoice(send=True))
    choice.button(text=t("bot.admin.broadcast.drop"), callback_data=BroadcastChoice(send=False))
    audience = totals.users_total - totals.users_banned
    await message.answer(t("bot.admin.broadcast.confirm", users=audience),
                         reply_markup=choice.as_markup())  # fmt: skip


async def broadcast_choice(
    query: CallbackQuery, callback_data: BroadcastChoice, state: FSMContext, redis: aioredis.Redis
) -> None:
    """Send: the broadcast is stored for the runners (one replica picks it up at once)."""
    data = await state.get_data()
    await state.clear()
    await query.answer()
    if query.message is None:
        return
    if not callback_data.send or "draft" not in data:
        await query.message.answer(t("bot.admin.broadcast.dropped"))
        return
    draft = broadcast.Broadcast(**data["draft"])
    if not await broadcast.begin(redis, draft):
        await query.message.answer(t("bot.admin.broadcast.busy"))
        return
    await query.message.answer(t("bot.admin.broadcast.started"))


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(help_, Command("admin"))
    router.message.register(stats, Command("stats"))
    router.message.register(user, Command("user"))
    router.message.register(grant, Command("grant"))
    router.message.register(ban, Command("ban"))
    router.message.register(unban, Command("unban"))
    router.message.register(refund, Command("refund"))
    router.message.register(job, Command("job"))
    router.message.register(retry, Command("retry"))
    router.message.register(broadcast_start, Command("broadcast"))
    router.message.register(broadcast_draft, Broadcasting.writing, ~F.text.startswith("/"))
    router.callback_query.register(broadcast_choice, BroadcastChoice.filter(),
                                   Broadcasting.confirming)  # fmt: skip

    runners: list[tuple[broadcast.Broadcaster, asyncio.Task[None]]] = []

    async def start_broadcaster(bot: Bot, services: Services, redis: aioredis.Redis,
                                i18n: I18n, settings: BotSettings) -> None:  # fmt: skip
        """Runs (or resumes) a broadcast whenever one is stored and nobody runs it."""
        runner = broadcast.Broadcaster(bot, services, redis, i18n, settings.BROADCAST_PER_SECOND)
        runners.append((runner, asyncio.create_task(runner.keep_running())))

    async def stop_broadcaster() -> None:
        """The message in flight is finished; the rest waits for the next start."""
        for runner, task in runners:
            runner.stop()
            # Not asyncio.wait_for: on 3.11 it waits without end for a task that loses
            # the cancellation it sends; a shutdown must end.
            _, late = await asyncio.wait([task], timeout=10)
            if late:
                log.warning("broadcast runner did not stop in time")
                await cancel_and_wait(late, 5)
        runners.clear()

    router.startup.register(start_broadcaster)
    router.shutdown.register(stop_broadcaster)
    return router
