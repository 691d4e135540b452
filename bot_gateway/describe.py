"""Jobs in words, in the current user's language: their settings, durations, statuses,
and the captions of results."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from aiogram.utils.i18n import I18n
from google.protobuf.timestamp_pb2 import Timestamp
from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway.texts import t
from common.texts import failure_code

#: Kind names of buttons, commands and texts by the enum.
KIND_NAMES: dict[int, str] = {
    pb.JOB_KIND_IMAGE: "image",
    pb.JOB_KIND_EDIT: "edit",
    pb.JOB_KIND_VIDEO: "video",
}
QUALITY_NAMES: dict[int, str] = {pb.QUALITY_STANDARD: "standard", pb.QUALITY_PRO: "pro"}
QUALITIES: dict[str, pb.Quality] = {"standard": pb.QUALITY_STANDARD, "pro": pb.QUALITY_PRO}
TERMINAL = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED, pb.JOB_STATUS_CANCELLED)
_STATUS_NAMES: dict[int, str] = {
    pb.JOB_STATUS_QUEUED: "queued",
    pb.JOB_STATUS_RUNNING: "running",
    pb.JOB_STATUS_SUCCEEDED: "succeeded",
    pb.JOB_STATUS_FAILED: "failed",
    pb.JOB_STATUS_CANCELLED: "cancelled",
}
#: A caption may hold 1,024 characters; the prompt gets what the rest leaves.
CAPTION_LIMIT = 1024


@contextlib.contextmanager
def speaking(i18n: I18n, lang: str) -> Iterator[None]:
    """Texts in `lang` outside an update (background tasks have no middleware)."""
    with i18n.context(), i18n.use_locale(lang):
        yield


def settings_line(kind: int, quality: int, ratio: str = "", duration: int = 0) -> str:
    """E.g. "🖼 Image · PRO · 16:9" or "🎬 Video · Standard · 9:16 · 6 s"."""
    parts = [t(f"bot.kind.{KIND_NAMES.get(kind, 'image')}"),
             t(f"bot.gen.quality.{QUALITY_NAMES.get(quality, 'standard')}")]  # fmt: skip
    if ratio:
        parts.append(ratio)
    if duration:
        parts.append(seconds(duration))
    return " · ".join(parts)


def job_settings(job: pb.Job) -> str:
    return settings_line(
        job.kind, job.quality, job.options.aspect_ratio, job.options.duration_seconds
    )


def seconds(value: float) -> str:
    """A duration: "12 s", "3 min 5 s"."""
    whole = max(0, round(value))
    if whole < 60:
        return t("bot.gen.seconds", n=whole)
    return t("bot.gen.minutes", m=whole // 60, s=whole % 60)


def short(text: str, limit: int = 200) -> str:
    """At most `limit` characters of one line, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def when(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(UTC) if stamp.seconds or stamp.nanos else None


def took(job: pb.Job) -> float:
    """Seconds from the request to the result, as the user waited."""
    created, finished = when(job.created_at), when(job.finished_at)
    if created is None or finished is None:
        return 0.0
    return max(0.0, (finished - created).total_seconds())


def status_word(status: int) -> str:
    return t(f"bot.gen.status.{_STATUS_NAMES.get(status, 'queued')}")


def caption(job: pb.Job) -> str:
    """A result's caption: its prompt, settings, cost and time taken."""
    tail = t("bot.gen.result_caption", settings=job_settings(job), cost=job.cost,
             took=seconds(took(job)))  # fmt: skip
    room = CAPTION_LIMIT - len(tail) - 4
    return f"«{short(job.prompt, max(20, room))}»\n{tail}"


def failure_reason(job: pb.Job) -> str:
    """Why the job failed, in the current language (a job older than failure codes, or
    with one this gateway does not know yet: the service's English words)."""
    code = failure_code(pb.JobFailure.Name(job.failure))
    return t(f"failure.{code}") if code else job.error or "—"
