"""Generation dialogs (/image, /edit, /video and their menu buttons): the quality with
its price, the options its provider accepts (aspect ratio, a video's length), the
prompt, the photo (Edit; a video's optional start image), a confirmation with price
and balance, and then the job. Also the buttons of a job: Cancel, Repeat, Vary.

Dialogs live in the FSM (Redis), so a restart of the gateway keeps them. Each has an
id its buttons carry, so the buttons of an earlier dialog expire. A job's
client_key comes from the update (the confirmation message, or the button press),
so a retried or duplicated update never creates a second job. Handlers never wait
for a job: its status message and its result come from the background
(progress.py, delivery.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway import keyboards
from bot_gateway.callbacks import Dialog, JobButton, Menu
from bot_gateway.catalog import KINDS, Catalog
from bot_gateway.describe import KIND_NAMES, QUALITIES, QUALITY_NAMES, settings_line, short
from bot_gateway.errors import refusal_reply
from bot_gateway.memory import JobMemory
from bot_gateway.progress import Progress
from bot_gateway.replies import ack, expired, say
from bot_gateway.services import Services
from bot_gateway.states import Generate
from bot_gateway.texts import t
from common.errors import DomainError, JobNotFound
from common.texts import refusal_text

log = logging.getLogger(__name__)

#: CreateJobRequest.input_image: at most 10 MB (checked against the size Telegram
#: reports, before anything is downloaded).
INPUT_MAX_BYTES = 10 * 1024 * 1024
#: CreateJobRequest.prompt: 1 to 2,000 characters after trimming.
PROMPT_MAX = 2000
#: Control characters other than newline and tab, which a prompt may not hold: dropped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class Draft:
    """What a dialog has gathered so far (its FSM data)."""

    dialog: str
    kind: str
    quality: str = ""
    ratio: str = ""
    duration: int = 0
    prompt: str = ""
    #: The Telegram file_id of the input photo; `no_image` once a video's is skipped.
    image: str = ""
    no_image: bool = False

    @classmethod
    def load(cls, data: dict[str, Any]) -> Draft | None:
        names = {f.name for f in dataclasses.fields(cls)}
        if data.get("kind") not in KINDS or not data.get("dialog"):
            return None
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def of_job(cls, job: pb.Job, image: str) -> Draft:
        """A new dialog with a job's settings (Vary, or Repeat without its photo)."""
        return cls(
            dialog=secrets.token_hex(4),
            kind=KIND_NAMES[job.kind],
            quality=QUALITY_NAMES[job.quality],
            ratio=job.options.aspect_ratio,
            duration=job.options.duration_seconds,
            image=image,
            no_image=not job.has_input,
        )

    @property
    def kind_code(self) -> pb.JobKind:
        return KINDS[self.kind]

    @property
    def quality_code(self) -> pb.Quality:
        return QUALITIES[self.quality]

    def settings(self) -> str:
        quality = self.quality_code if self.quality else 0
        return settings_line(self.kind_code, quality, self.ratio, self.duration)


# --- small helpers ------------------------------------------------------------------


async def _tell_refusal(message: Message, error: DomainError, lang: str) -> None:
    text, markup = refusal_reply(error, lang)
    await message.answer(text, reply_markup=markup)


async def _show(
    target: Message, edit: bool, text: str, markup: InlineKeyboardMarkup | None
) -> Message:
    """Edit `target` to the question (a button was pressed on it) or ask anew below."""
    if edit:
        try:
            await target.edit_text(text, reply_markup=markup)
            return target
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return target
    return await target.answer(text, reply_markup=markup)


# --- the dialog -----------------------------------------------------------------------


async def _next(
    target: Message,
    edit: bool,
    draft: Draft,
    state: FSMContext,
    catalog: Catalog,
    services: Services,
    user: int,
) -> None:
    """Ask the first question the draft has no answer to yet, or for confirmation."""
    kind = draft.kind_code
    if not draft.quality:
        offers = await catalog.offers()
        options = [
            (t(f"bot.gen.quality_price.{name}", price=offers[(kind, code)].price), name)
            for name, code in QUALITIES.items()
        ]
        text = t("bot.gen.ask_quality", kind=t(f"bot.kind.{draft.kind}"))
        await _ask(target, edit, draft, state, Generate.quality, text,
                   keyboards.choices(draft.dialog, "quality", options, per_row=1))  # fmt: skip
        return
    offer = await catalog.offer(kind, draft.quality_code)
    if not draft.ratio:
        if len(offer.aspect_ratios) > 1:
            options = [(r, r.replace(":", "x")) for r in offer.aspect_ratios]
            text = t("bot.gen.ask_ratio", settings=draft.settings())
            await _ask(target, edit, draft, state, Generate.ratio, text,
                       keyboards.choices(draft.dialog, "ratio", options))  # fmt: skip
            return
        draft.ratio = offer.aspect_ratios[0] if offer.aspect_ratios else ""
    if kind == pb.JOB_KIND_VIDEO and not draft.duration:
        if len(offer.durations_seconds) > 1:
            options = [(t("bot.gen.seconds", n=d), str(d)) for d in offer.durations_seconds]
            text = t("bot.gen.ask_duration", settings=draft.settings())
            await _ask(target, edit, draft, state, Generate.duration, text,
                       keyboards.choices(draft.dialog, "duration", options))  # fmt: skip
            return
        draft.duration = offer.durations_seconds[0] if offer.durations_seconds else 0
    if not draft.prompt:
        text = t(f"bot.gen.ask_prompt.{draft.kind}", settings=draft.settings())
        await _ask(target, edit, draft, state, Generate.prompt, text,
                   keyboards.choices(draft.dialog, "prompt", []))  # fmt: skip
        return
    if offer.input_image != "none" and not draft.image and not draft.no_image:
        optional = offer.input_image == "optional"
        key = "bot.gen.ask_start_image" if optional else "bot.gen.ask_photo"
        skip = [(t("bot.gen.skip"), "")] if optional else []
        text = t(key, settings=draft.settings(), limit=INPUT_MAX_BYTES // (1024 * 1024))
        await _ask(target, edit, draft, state, Generate.image, text,
                   keyboards.choices(draft.dialog, "skip", skip))  # fmt: skip
        return
    balance = await services.call(
        services.billing.GetBalance, bpb.GetBalanceRequest(telegram_id=user)
    )
    lines = [t("bot.gen.confirm", settings=draft.settings(), prompt=short(draft.prompt, 600))]
    if draft.image:
        lines.append(t("bot.gen.with_photo"))
    lines.append(t("bot.gen.price", price=offer.price, balance=balance.balance))
    button = t("bot.gen.confirm_button", price=offer.price)
    await _ask(target, edit, draft, state, Generate.confirm, "\n\n".join(lines),
               keyboards.choices(draft.dialog, "confirm", [(button, "")]))  # fmt: skip


async def _ask(
    target: Message,
    edit: bool,
    draft: Draft,
    state: FSMContext,
    step: Any,
    text: str,
    markup: InlineKeyboardMarkup,
) -> None:
    # The state first: a quick answer must find the dialog at its new step.
    await state.set_state(step)
    await state.set_data(dataclasses.asdict(draft))
    await _show(target, edit, text, markup)


async def _draft(state: FSMContext, pressed: Dialog | None = None) -> Draft | None:
    """The dialog under way; None when there is none or `pressed` is from another one."""
    draft = Draft.load(await state.get_data())
    if draft is None or (pressed is not None and pressed.dialog != draft.dialog):
        return None
    return draft


async def begin(
    event: Message | CallbackQuery,
    kind: str,
    state: FSMContext,
    catalog: Catalog,
    services: Services,
) -> None:
    """A new dialog of `kind` (any dialog under way is dropped)."""
    assert event.from_user is not None
    message = event.message if isinstance(event, CallbackQuery) else event
    if isinstance(event, CallbackQuery):
        await ack(event)
    if not isinstance(message, Message):
        return
    await state.clear()
    draft = Draft(dialog=secrets.token_hex(4), kind=kind)
    await _next(message, False, draft, state, catalog, services, event.from_user.id)


async def begin_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    catalog: Catalog,
    services: Services,
) -> None:
    await begin(message, command.command.lower(), state, catalog, services)


async def begin_menu(
    query: CallbackQuery,
    callback_data: Menu,
    state: FSMContext,
    catalog: Catalog,
    services: Services,
) -> None:
    await begin(query, callback_data.item, state, catalog, services)


async def choose(
    query: CallbackQuery,
    callback_data: Dialog,
    state: FSMContext,
    catalog: Catalog,
    services: Services,
) -> None:
    """A quality, ratio or duration, or Skip (a video's start image)."""
    draft = await _draft(state, callback_data)
    if draft is None or not isinstance(query.message, Message):
        await expired(query)
        return
    value = callback_data.value
    if callback_data.step == "quality" and value in QUALITIES:
        draft.quality = value
    elif callback_data.step == "ratio" and draft.quality:
        offer = await catalog.offer(draft.kind_code, draft.quality_code)
        ratio = value.replace("x", ":")  # ":" separates the fields of callback data
        if ratio not in offer.aspect_ratios:
            await expired(query)
            return
        draft.ratio = ratio
    elif callback_data.step == "duration" and draft.quality and value.isdigit():
        offer = await catalog.offer(draft.kind_code, draft.quality_code)
        if int(value) not in offer.durations_seconds:
            await expired(query)
            return
        draft.duration = int(value)
    elif callback_data.step == "skip":
        draft.no_image = True
    else:
        await expired(query)
        return
    await ack(query)
    await _next(query.message, True, draft, state, catalog, services, query.from_user.id)


async def cancel(query: CallbackQuery, callback_data: Dialog, state: FSMContext) -> None:
    """Cancel at any step: the dialog ends, its message says so."""
    if await _draft(state, callback_data) is None or not isinstance(query.message, Message):
        await expired(query)
        return
    await state.clear()
    await ack(query)
    await _show(query.message, True, t("bot.gen.dialog_cancelled"), None)


async def got_prompt(
    message: Message, state: FSMContext, catalog: Catalog, services: Services
) -> None:
    """The prompt (also a new one at the confirmation)."""
    assert message.from_user is not None
    draft = await _draft(state)
    if draft is None:
        await state.clear()
        return
    prompt = _CONTROL.sub("", (message.text or "").replace("\r\n", "\n")).strip()
    if len(prompt) > PROMPT_MAX:
        await message.answer(t("bot.gen.prompt_too_long", limit=PROMPT_MAX, length=len(prompt)))
        return
    if not prompt:
        await message.answer(t("bot.gen.prompt_expected"))
        return
    draft.prompt = prompt
    await _next(message, False, draft, state, catalog, services, message.from_user.id)


def _input_image(message: Message) -> tuple[str, str]:
    """(file_id, "") of an image message, or ("", what is wrong with it)."""
    if message.photo:
        largest = message.photo[-1]
        if largest.file_size and largest.file_size > INPUT_MAX_BYTES:
            return "", "bot.gen.photo_too_big"
        return largest.file_id, ""
    document = message.document
    if document is not None and message.animation is None:
        name = (document.file_name or "").lower()
        if document.mime_type not in _IMAGE_TYPES and not name.endswith(_IMAGE_SUFFIXES):
            return "", "bot.gen.photo_wrong_type"
        if document.file_size and document.file_size > INPUT_MAX_BYTES:
            return "", "bot.gen.photo_too_big"
        return document.file_id, ""
    return "", "bot.gen.photo_wrong_type"


async def got_image(
    message: Message, state: FSMContext, catalog: Catalog, services: Services
) -> None:
    """The photo to edit (or a video's start image), as a photo or as a file; at the
    prompt step a photo with a caption brings both."""
    assert message.from_user is not None
    draft = await _draft(state)
    if draft is None:
        await state.clear()
        return
    if draft.kind == "image":  # a text-to-image dialog takes words only
        await message.answer(t("bot.gen.prompt_expected"))
        return
    file_id, problem = _input_image(message)
    if problem:
        await message.answer(t(problem, limit=INPUT_MAX_BYTES // (1024 * 1024)))
        return
    draft.image, draft.no_image = file_id, False
    caption = _CONTROL.sub("", message.caption or "").strip()
    if caption and len(caption) <= PROMPT_MAX and not draft.prompt:
        draft.prompt = caption
    await _next(message, False, draft, state, catalog, services, message.from_user.id)


async def image_expected(message: Message) -> None:
    await message.answer(t("bot.gen.photo_wrong_type", limit=INPUT_MAX_BYTES // (1024 * 1024)))


async def prompt_expected(message: Message) -> None:
    await message.answer(t("bot.gen.prompt_expected"))


async def _fetch(bot: Bot, file_id: str) -> bytes | None:
    """An input photo's bytes (its size was checked when it came); None when there is
    none or Telegram no longer gives it."""
    if not file_id:
        return None
    try:
        file = await bot.get_file(file_id)
        if (file.file_size or 0) > INPUT_MAX_BYTES or not file.file_path:
            return None
        data = await bot.download_file(file.file_path)
    except TelegramAPIError as exc:
        log.info("input photo not fetched", extra={"error": str(exc)})
        return None
    return data.read() if data is not None else None


async def confirm(
    query: CallbackQuery,
    callback_data: Dialog,
    state: FSMContext,
    services: Services,
    catalog: Catalog,
    progress: Progress,
    bot: Bot,
    lang: str,
) -> None:
    """The job, from the dialog; its status message is the confirmation message."""
    draft = await _draft(state, callback_data)
    message = query.message
    if draft is None or not isinstance(message, Message) or not draft.prompt:
        await expired(query)
        return
    # The press is answered at once, while the job is being created beside it.
    answering = asyncio.create_task(say(query, t("bot.gen.starting")))
    try:
        image = b""
        if draft.image:
            fetched = await _fetch(bot, draft.image)
            if fetched is None:  # ask for the photo again
                await message.answer(t("bot.gen.photo_lost"))
                draft.image = ""
                await _next(message, False, draft, state, catalog, services, query.from_user.id)
                return
            image = fetched
        request = pb.CreateJobRequest(
            telegram_id=query.from_user.id,
            kind=draft.kind_code,
            quality=draft.quality_code,
            prompt=draft.prompt,
            input_image=image,
            options=pb.JobOptions(aspect_ratio=draft.ratio, duration_seconds=draft.duration),
            # The confirmation message: a duplicated update, or a second press, is this job.
            client_key=f"tg:{message.chat.id}:{message.message_id}",
        )
        try:
            job = (await services.call(services.jobs.CreateJob, request)).job
        except DomainError as error:  # the dialog stays: Confirm works again once it can
            await _tell_refusal(message, error, lang)
            return
        await state.clear()
        await progress.begin(job, message.chat.id, lang, message.message_id, draft.image)
    finally:
        await answering


# --- a job's buttons -----------------------------------------------------------------


async def cancel_job(
    query: CallbackQuery, callback_data: JobButton, services: Services, progress: Progress,
    lang: str,
) -> None:  # fmt: skip
    """Cancel from the status message: the job stops and its credits come back."""
    job_id = callback_data.job_id()
    if job_id is None:
        await expired(query)
        return
    request = pb.CancelJobRequest(job_id=job_id, telegram_id=query.from_user.id)
    try:
        job = (await services.call(services.jobs.CancelJob, request)).job
    except JobNotFound:
        await say(query, t("bot.gen.not_yours"))
        return
    except DomainError as error:
        await say(query, refusal_text(error, lang))
        return
    if job.status == pb.JOB_STATUS_CANCELLED:
        await say(query, t("bot.gen.cancel_done", cost=job.cost))
        await progress.show(pb.WatchJobResponse(job=job), final=True)
    else:
        await say(query, t("bot.gen.already_finished"))


async def _own_job(query: CallbackQuery, data: JobButton, services: Services) -> pb.Job | None:
    job_id = data.job_id()
    if job_id is None:
        await expired(query)
        return None
    request = pb.GetJobRequest(job_id=job_id, telegram_id=query.from_user.id)
    try:
        return (await services.call(services.jobs.GetJob, request)).job
    except JobNotFound:
        await say(query, t("bot.gen.not_yours"))
        return None


async def repeat(
    query: CallbackQuery,
    callback_data: JobButton,
    state: FSMContext,
    services: Services,
    catalog: Catalog,
    progress: Progress,
    memory: JobMemory,
    bot: Bot,
    lang: str,
) -> None:
    """The same settings again, as a new job (charged again)."""
    job = await _own_job(query, callback_data, services)
    message = query.message
    if job is None or not isinstance(message, Message):
        return
    note = await memory.get(job.id)
    image_file = note.input_file if note is not None else ""
    image = b""
    if job.has_input:
        fetched = await _fetch(bot, image_file)
        if fetched is None:  # the photo is not known any more: a dialog asks for it
            await ack(query)
            await message.answer(t("bot.gen.photo_lost"))
            draft = dataclasses.replace(Draft.of_job(job, ""), prompt=job.prompt)
            await _next(message, False, draft, state, catalog, services, query.from_user.id)
            return
        image = fetched
    await say(query, t("bot.gen.starting"))
    request = pb.CreateJobRequest(
        telegram_id=query.from_user.id,
        kind=job.kind,
        quality=job.quality,
        prompt=job.prompt,
        input_image=image,
        options=job.options,
        client_key=f"tg:press:{query.id}",  # the press: a duplicated update is this job
    )
    try:
        created = (await services.call(services.jobs.CreateJob, request)).job
    except DomainError as error:
        await _tell_refusal(message, error, lang)
        return
    await progress.begin(created, message.chat.id, lang, None, image_file)


async def vary(
    query: CallbackQuery,
    callback_data: JobButton,
    state: FSMContext,
    services: Services,
    memory: JobMemory,
) -> None:
    """The same settings with a new prompt: the dialog resumes at the prompt."""
    job = await _own_job(query, callback_data, services)
    message = query.message
    if job is None or not isinstance(message, Message):
        return
    note = await memory.get(job.id)
    draft = Draft.of_job(job, note.input_file if note is not None else "")
    await ack(query)
    text = t("bot.gen.ask_vary", settings=draft.settings(), prompt=short(job.prompt, 600))
    await _ask(message, False, draft, state, Generate.prompt, text,
               keyboards.choices(draft.dialog, "prompt", []))  # fmt: skip


def create_router() -> Router:
    """A fresh router (a process may run several dispatchers: replicas in tests)."""
    router = Router(name="generate")
    router.message.register(begin_command, Command(*KINDS, ignore_case=True))
    router.callback_query.register(begin_menu, Menu.filter(F.item.in_(KINDS)))
    for step, where in (("quality", Generate.quality), ("ratio", Generate.ratio),
                        ("duration", Generate.duration), ("skip", Generate.image)):  # fmt: skip
        router.callback_query.register(choose, Dialog.filter(F.step == step), where)
    router.callback_query.register(confirm, Dialog.filter(F.step == "confirm"), Generate.confirm)
    router.callback_query.register(cancel, Dialog.filter(F.step == "cancel"), StateFilter(Generate))
    router.callback_query.register(cancel_job, JobButton.filter(F.action == "cancel"))
    router.callback_query.register(repeat, JobButton.filter(F.action == "repeat"))
    router.callback_query.register(vary, JobButton.filter(F.action == "vary"))
    not_command = ~F.text.startswith("/")
    media = F.photo | F.document
    router.message.register(got_image, StateFilter(Generate.prompt, Generate.image), media)
    router.message.register(got_prompt, StateFilter(Generate.prompt, Generate.confirm), F.text,
                            not_command)  # fmt: skip
    router.message.register(prompt_expected, Generate.prompt, not_command)
    router.message.register(image_expected, Generate.image, not_command)
    return router
