"""What pages and the JSON API both show, fetched from the services and converted: the
person's account, offers, products, jobs with their result links, the ledger. No rule
lives here; the services decide everything."""

from __future__ import annotations

import asyncio
import uuid

from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb

from webapp import models
from webapp.deps import Web
from webapp.errors import ChatUnreachable, ResultTooLarge
from webapp.sessions import Session
from webapp.telegram import TelegramError

#: Jobs on one page of the history.
HISTORY_PAGE = 10
#: Entries on one page of the ledger.
LEDGER_PAGE = 20
#: Latest jobs looked through for unfinished ones on the cabinet's first page.
RECENT_JOBS = 5


def referral_link(web: Web, code: str) -> str | None:
    if not web.settings.BOT_USERNAME or not code:
        return None
    return f"https://t.me/{web.settings.BOT_USERNAME}?start=ref_{code}"


async def me(web: Web, session: Session) -> models.Me:
    """The person's account and unfinished jobs: two calls at once (a grpc.aio call starts
    when it is made, so no task is needed to run them side by side)."""
    user_call = web.services.billing.GetUser(bpb.GetUserRequest(telegram_id=session.telegram_id))
    jobs_call = web.services.jobs.ListJobs(
        jpb.ListJobsRequest(telegram_id=session.telegram_id, page_size=RECENT_JOBS)
    )
    try:
        user_answer = await user_call
    except BaseException:
        jobs_call.cancel()
        raise
    jobs_answer = await jobs_call
    user = user_answer.user
    active = [
        models.job_of(j)
        for j in jobs_answer.jobs
        if j.status in (jpb.JOB_STATUS_QUEUED, jpb.JOB_STATUS_RUNNING)
    ]
    return models.me_of(
        user,
        referral_link=referral_link(web, user.referral_code),
        is_admin=web.is_admin(session.telegram_id),
        active_jobs=active,
    )


async def offers(web: Web) -> list[models.Offer]:
    answer = await web.services.jobs.ListOffers(jpb.ListOffersRequest())
    return [models.offer_of(o) for o in answer.offers]


async def products(web: Web) -> list[models.Product]:
    answer = await web.services.billing.ListProducts(bpb.ListProductsRequest())
    return [models.product_of(p) for p in answer.products]


async def job_page(
    jobs_stub: object, telegram_id: int, page_token: str, page_size: int = HISTORY_PAGE
) -> models.JobPage:
    answer = await jobs_stub.ListJobs(  # type: ignore[attr-defined]
        jpb.ListJobsRequest(telegram_id=telegram_id, page_size=page_size, page_token=page_token)
    )
    return models.JobPage(
        jobs=[models.job_of(j) for j in answer.jobs], next_page_token=answer.next_page_token
    )


async def result_urls(web: Web, telegram_id: int, job_id: str) -> models.ResultUrls:
    answer = await web.services.jobs.GetResultUrls(
        jpb.GetResultUrlsRequest(job_id=job_id, telegram_id=telegram_id)
    )
    return models.result_urls_of(answer)


async def thumbnails(web: Web, jobs: list[models.Job]) -> dict[str, list[models.ResultUrl]]:
    """The result links of each succeeded job, fetched at once."""
    done = [j for j in jobs if j.status == "succeeded"]
    answers = await asyncio.gather(*(result_urls(web, j.telegram_id, j.id) for j in done))
    return {job.id: answer.urls for job, answer in zip(done, answers, strict=True)}


async def ledger_page(
    billing_stub: object, telegram_id: int, page_token: str, page_size: int = LEDGER_PAGE
) -> models.LedgerPage:
    answer = await billing_stub.ListLedger(  # type: ignore[attr-defined]
        bpb.ListLedgerRequest(telegram_id=telegram_id, page_size=page_size, page_token=page_token)
    )
    return models.LedgerPage(
        entries=[models.ledger_entry_of(e) for e in answer.entries],
        next_page_token=answer.next_page_token,
    )


async def create_job(
    web: Web,
    telegram_id: int,
    kind: str,
    quality: str,
    prompt: str,
    aspect_ratio: str,
    duration_seconds: int,
    image: bytes,
    client_key: str,
) -> models.Job:
    answer = await web.services.jobs.CreateJob(
        jpb.CreateJobRequest(
            telegram_id=telegram_id,
            kind=models.KIND_CODES[kind],
            quality=models.QUALITY_CODES[quality],
            prompt=prompt,
            input_image=image,
            options=jpb.JobOptions(aspect_ratio=aspect_ratio, duration_seconds=duration_seconds),
            client_key=client_key or uuid.uuid4().hex,
        )
    )
    return models.job_of(answer.job)


async def invoice_link(web: Web, telegram_id: int, product_id: str) -> models.InvoiceLink:
    """Billing makes the invoice (signed payload, price); Telegram makes its link."""
    invoice = await web.services.billing.CreateInvoice(
        bpb.CreateInvoiceRequest(telegram_id=telegram_id, product_id=product_id)
    )
    link = await web.telegram.create_invoice_link(
        invoice.title,
        invoice.description,
        invoice.payload,
        invoice.currency,
        invoice.amount,
        invoice.subscription_period,
    )
    return models.InvoiceLink(link=link, product=models.product_of(invoice.product))


async def send_to_chat(web: Web, telegram_id: int, job_id: str, caption: str) -> models.Sent:
    """The job's first result, fetched from its presigned URL and sent to the person's chat."""
    urls = (await result_urls(web, telegram_id, job_id)).urls
    if not urls:
        raise ChatUnreachable("the job has no result file")
    first = urls[0]
    limit = web.settings.TELEGRAM_UPLOAD_LIMIT_MB * 1024 * 1024
    if first.size_bytes > limit:
        raise ResultTooLarge("the result is too large to send", limit_mb=limit // 2**20)
    data = await web.telegram.fetch(first.url, limit)
    try:
        message_id = await web.telegram.send_result(telegram_id, data, first.mime_type, caption)
    except TelegramError as exc:
        if exc.code in (400, 403):
            raise ChatUnreachable(exc.description) from None
        raise
    return models.Sent(message_id=message_id)
