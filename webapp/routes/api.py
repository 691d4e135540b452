"""The cabinet's JSON API: the account, offers and products, jobs (create, read, cancel,
results, send to chat), the ledger, invoices and the language."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb
from pydantic import BaseModel, Field

from common.errors import InvalidImage
from webapp import models, views
from webapp.deps import CsrfSession, SessionDep, WebDep
from webapp.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api", tags=["cabinet"], responses=ERROR_RESPONSES)

#: Input images the services accept (they check again, decoding every pixel).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
JobId = Annotated[str, Path(min_length=1, max_length=64, description="the job's id")]
PageToken = Annotated[str, Query(max_length=256, description="next_page_token of the page before")]


@router.get("/me", response_model=models.Me, summary="The logged-in person")
async def get_me(session: SessionDep, web: WebDep) -> Response:
    """Balance, tier, subscription, referral link and count, unfinished jobs."""
    # The hottest route: serialized once, not validated again against response_model.
    me = await views.me(web, session)
    return Response(me.model_dump_json(), media_type="application/json")


@router.get("/offers", response_model=list[models.Offer], summary="What can be made, at what price")
async def get_offers(session: SessionDep, web: WebDep) -> list[models.Offer]:
    return await views.offers(web)


@router.get("/products", response_model=list[models.Product], summary="What can be bought")
async def get_products(session: SessionDep, web: WebDep) -> list[models.Product]:
    return await views.products(web)


@router.get("/jobs", response_model=models.JobPage, summary="The person's jobs, newest first")
async def list_jobs(
    session: SessionDep,
    web: WebDep,
    page_token: PageToken = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = views.HISTORY_PAGE,
) -> models.JobPage:
    return await views.job_page(web.services.jobs, session.telegram_id, page_token, page_size)


@router.post("/jobs", response_model=models.Job, status_code=201, summary="Create a job")
async def create_job(
    session: CsrfSession,
    web: WebDep,
    kind: Annotated[Literal["image", "edit", "video"], Form()],
    quality: Annotated[Literal["standard", "pro"], Form()],
    prompt: Annotated[str, Form(max_length=4000)],
    aspect_ratio: Annotated[str, Form(max_length=16)] = "",
    duration_seconds: Annotated[int, Form(ge=0, le=600)] = 0,
    client_key: Annotated[str, Form(max_length=128, description="makes retries safe")] = "",
    image: Annotated[UploadFile | None, File(description="JPEG, PNG or WebP, ≤ 10 MB")] = None,
) -> models.Job:
    """Validated, charged and queued by job_svc; watch it at /api/jobs/{id}/events."""
    data = b""
    if image is not None:
        data = await image.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise InvalidImage(
                "image too large", max_bytes=MAX_IMAGE_BYTES, max_side=MAX_IMAGE_SIDE
            )
    return await views.create_job(
        web,
        session.telegram_id,
        kind,
        quality,
        prompt,
        aspect_ratio,
        duration_seconds,
        data,
        client_key,
    )


@router.get("/jobs/{job_id}", response_model=models.Job, summary="One job")
async def get_job(job_id: JobId, session: SessionDep, web: WebDep) -> models.Job:
    answer = await web.services.jobs.GetJob(
        jpb.GetJobRequest(job_id=job_id, telegram_id=session.telegram_id)
    )
    return models.job_of(answer.job)


@router.post("/jobs/{job_id}/cancel", response_model=models.Job, summary="Cancel a job")
async def cancel_job(job_id: JobId, session: CsrfSession, web: WebDep) -> models.Job:
    """A queued or running job is cancelled and refunded; a finished one stays as it is."""
    answer = await web.services.jobs.CancelJob(
        jpb.CancelJobRequest(job_id=job_id, telegram_id=session.telegram_id)
    )
    return models.job_of(answer.job)


@router.get("/jobs/{job_id}/results", response_model=models.ResultUrls, summary="Download links")
async def job_results(job_id: JobId, session: SessionDep, web: WebDep) -> models.ResultUrls:
    """Presigned, expiring URLs of a succeeded job's files."""
    return await views.result_urls(web, session.telegram_id, job_id)


@router.post(
    "/jobs/{job_id}/send", response_model=models.Sent, summary="Send the result to the chat"
)
async def send_job(job_id: JobId, session: CsrfSession, web: WebDep) -> models.Sent:
    """The result goes to the person's Telegram chat with the bot again."""
    job = (
        await web.services.jobs.GetJob(
            jpb.GetJobRequest(job_id=job_id, telegram_id=session.telegram_id)
        )
    ).job
    return await views.send_to_chat(web, session.telegram_id, job_id, job.prompt)


@router.get("/ledger", response_model=models.LedgerPage, summary="Credit movements, newest first")
async def ledger(
    session: SessionDep,
    web: WebDep,
    page_token: PageToken = "",
    page_size: Annotated[int, Query(ge=1, le=200)] = views.LEDGER_PAGE,
) -> models.LedgerPage:
    return await views.ledger_page(web.services.billing, session.telegram_id, page_token, page_size)


class InvoiceRequest(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)


@router.post("/invoices", response_model=models.InvoiceLink, summary="An invoice link")
async def create_invoice(
    body: InvoiceRequest, session: CsrfSession, web: WebDep
) -> models.InvoiceLink:
    """For Telegram.WebApp.openInvoice; the bot receives the payment and billing credits it."""
    return await views.invoice_link(web, session.telegram_id, body.product_id)


class LanguageRequest(BaseModel):
    language: Literal["en", "ru"]


@router.post("/me/language", response_model=models.Ok, summary="Choose the language")
async def set_language(body: LanguageRequest, session: CsrfSession, web: WebDep) -> models.Ok:
    """The bot and the cabinet speak it from now on."""
    await web.services.billing.UpdateUser(
        bpb.UpdateUserRequest(telegram_id=session.telegram_id, language=body.language)
    )
    await web.sessions.set_language(session, body.language)
    return models.Ok()
