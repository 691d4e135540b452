"""The admin page (/admin) and its JSON API (/api/admin): stats, users (search, view,
grant, ban), jobs (filter, view, retry), payments (view, refund) and the audit log.

Only ADMIN_IDS get in: anyone else gets 403 on every URL here, before anything else is
looked at. Every action goes through the services' admin calls with the admin
credential and `x-actor: web:<telegram id>`, so it shows in the audit log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb
from pydantic import BaseModel, Field

from common.validate import MAX_ID
from webapp import models, views
from webapp.deps import AdminDep, CsrfAdmin, Web, WebDep
from webapp.errors import ERROR_RESPONSES
from webapp.pages import render
from webapp.routes.api import JobId, PageToken
from webapp.sessions import Session

api = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)
pages = APIRouter(prefix="/admin", include_in_schema=False)

UserId = Annotated[int, Path(gt=0, lt=MAX_ID, description="the user's Telegram id")]
ChargeId = Annotated[str, Path(min_length=1, max_length=256, description="Telegram's charge id")]
OwnerFilter = Annotated[int, Query(ge=0, lt=MAX_ID, description="the owner; 0 means everyone")]
#: The same in a page's filter form, where an empty box means everyone.
OwnerBox = Annotated[str, Query(max_length=16, pattern=r"^[0-9]*$")]
Status = Literal["", "queued", "running", "succeeded", "failed", "cancelled"]
Kind = Literal["", "image", "edit", "video"]
PAGE = 50


# --- what both the pages and the API do ---------------------------------------------


async def load_stats(web: Web, admin: Session) -> models.Stats:
    billing, jobs = await asyncio.gather(
        web.services.admin_billing(admin.telegram_id).GetStats(bpb.GetStatsRequest()),
        web.services.admin_jobs(admin.telegram_id).GetJobStats(jpb.GetJobStatsRequest()),
    )
    return models.stats_of(billing, jobs)


async def load_users(web: Web, admin: Session, query: str, page_token: str) -> models.UserPage:
    answer = await web.services.admin_billing(admin.telegram_id).FindUsers(
        bpb.FindUsersRequest(query=query, page_size=PAGE, page_token=page_token)
    )
    return models.UserPage(
        users=[models.user_of(u) for u in answer.users], next_page_token=answer.next_page_token
    )


async def load_payments(
    web: Web, admin: Session, telegram_id: int, page_token: str, size: int = PAGE
) -> models.PaymentPage:
    answer = await web.services.admin_billing(admin.telegram_id).ListPayments(
        bpb.ListPaymentsRequest(telegram_id=telegram_id, page_size=size, page_token=page_token)
    )
    return models.PaymentPage(
        payments=[models.payment_of(p) for p in answer.payments],
        next_page_token=answer.next_page_token,
    )


async def load_jobs(
    web: Web,
    admin: Session,
    telegram_id: int,
    status: str,
    kind: str,
    provider: str,
    page_token: str,
    size: int = PAGE,
) -> models.JobPage:
    answer = await web.services.admin_jobs(admin.telegram_id).ListAllJobs(
        jpb.ListAllJobsRequest(
            telegram_id=telegram_id,
            status=models.STATUS_CODES.get(status, jpb.JOB_STATUS_UNSPECIFIED),
            kind=models.KIND_CODES.get(kind, jpb.JOB_KIND_UNSPECIFIED),
            provider=provider,
            page_size=size,
            page_token=page_token,
        )
    )
    return models.JobPage(
        jobs=[models.job_of(j) for j in answer.jobs], next_page_token=answer.next_page_token
    )


async def load_user(web: Web, admin: Session, telegram_id: int) -> models.AdminUserView:
    user, ledger, jobs, payments = await asyncio.gather(
        web.services.billing.GetUser(bpb.GetUserRequest(telegram_id=telegram_id)),
        views.ledger_page(web.services.billing, telegram_id, "", 20),
        load_jobs(web, admin, telegram_id, "", "", "", "", 20),
        load_payments(web, admin, telegram_id, "", 20),
    )
    return models.AdminUserView(
        user=models.user_of(user.user), ledger=ledger, jobs=jobs, payments=payments
    )


async def load_audit(
    web: Web, admin: Session, telegram_id: int, actor: str, action: str, page_token: str
) -> models.AuditPage:
    answer = await web.services.admin_billing(admin.telegram_id).ListAuditLog(
        bpb.ListAuditLogRequest(
            telegram_id=telegram_id,
            actor=actor,
            action=action,
            page_size=PAGE,
            page_token=page_token,
        )
    )
    return models.audit_page_of(answer)


async def load_job(web: Web, admin: Session, telegram_id: int, job_id: str) -> models.Job:
    """The job; with no owner named, read with the admin credential whoever owns it."""
    stub = web.services.jobs if telegram_id else web.services.admin_jobs(admin.telegram_id)
    answer = await stub.GetJob(jpb.GetJobRequest(job_id=job_id, telegram_id=telegram_id))
    return models.job_of(answer.job)


async def grant(
    web: Web, admin: Session, telegram_id: int, amount: int, reason: str, key: str
) -> models.Balance:
    answer = await web.services.admin_billing(admin.telegram_id).GrantCredits(
        bpb.GrantCreditsRequest(
            telegram_id=telegram_id, amount=amount, reason=reason, idempotency_key=key
        )
    )
    return models.Balance(balance=answer.balance)


async def ban(web: Web, admin: Session, telegram_id: int, banned: bool, reason: str) -> models.User:
    answer = await web.services.admin_billing(admin.telegram_id).SetBanned(
        bpb.SetBannedRequest(telegram_id=telegram_id, banned=banned, reason=reason)
    )
    return models.user_of(answer.user)


async def retry(web: Web, admin: Session, job_id: str) -> models.Job:
    answer = await web.services.admin_jobs(admin.telegram_id).RetryJob(
        jpb.RetryJobRequest(job_id=job_id)
    )
    return models.job_of(answer.job)


async def refund(web: Web, admin: Session, charge_id: str, reason: str) -> models.Refunded:
    """Billing first: it takes the credits back (or refuses when they are spent) and marks
    the payment refunded; then Telegram returns the Stars. A retry after Telegram failed
    repeats nothing in billing (the refund is idempotent) and asks Telegram again."""
    answer = await web.services.admin_billing(admin.telegram_id).RefundPayment(
        bpb.RefundPaymentRequest(telegram_payment_charge_id=charge_id, reason=reason)
    )
    await web.telegram.refund_star_payment(answer.payment.telegram_id, charge_id)
    return models.Refunded(
        payment=models.payment_of(answer.payment), credits_debited=answer.credits_debited
    )


# --- the JSON API --------------------------------------------------------------------


@api.get("/stats", response_model=models.Stats, summary="Totals of people, money and jobs")
async def api_stats(admin: AdminDep, web: WebDep) -> models.Stats:
    return await load_stats(web, admin)


@api.get("/users", response_model=models.UserPage, summary="Find users by id or username")
async def api_users(
    admin: AdminDep,
    web: WebDep,
    query: Annotated[str, Query(max_length=64)] = "",
    page_token: PageToken = "",
) -> models.UserPage:
    return await load_users(web, admin, query, page_token)


@api.get("/users/{telegram_id}", response_model=models.AdminUserView, summary="One user")
async def api_user(telegram_id: UserId, admin: AdminDep, web: WebDep) -> models.AdminUserView:
    return await load_user(web, admin, telegram_id)


class GrantRequest(BaseModel):
    amount: int = Field(ge=-1_000_000, le=1_000_000, description="non-zero; negative takes")
    reason: str = Field(min_length=1, max_length=200)
    idempotency_key: str = Field(min_length=1, max_length=128, description="makes retries safe")


@api.post("/users/{telegram_id}/grant", response_model=models.Balance, summary="Grant credits")
async def api_grant(
    telegram_id: UserId, body: GrantRequest, admin: CsrfAdmin, web: WebDep
) -> models.Balance:
    return await grant(web, admin, telegram_id, body.amount, body.reason, body.idempotency_key)


class BanRequest(BaseModel):
    banned: bool
    reason: str = Field(default="", max_length=200)


@api.post("/users/{telegram_id}/ban", response_model=models.User, summary="Ban or unban")
async def api_ban(
    telegram_id: UserId, body: BanRequest, admin: CsrfAdmin, web: WebDep
) -> models.User:
    return await ban(web, admin, telegram_id, body.banned, body.reason)


@api.get("/jobs", response_model=models.JobPage, summary="Every user's jobs, filtered")
async def api_jobs(
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerFilter = 0,
    status: Status = "",
    kind: Kind = "",
    provider: Annotated[str, Query(max_length=32)] = "",
    page_token: PageToken = "",
) -> models.JobPage:
    return await load_jobs(web, admin, telegram_id, status, kind, provider, page_token)


@api.get("/jobs/{job_id}", response_model=models.Job, summary="One job of a user")
async def api_job(
    job_id: JobId,
    admin: AdminDep,
    web: WebDep,
    telegram_id: Annotated[int, Query(ge=0, lt=MAX_ID, description="the owner; 0: anyone's")] = 0,
) -> models.Job:
    return await load_job(web, admin, telegram_id, job_id)


@api.post("/jobs/{job_id}/retry", response_model=models.Job, summary="Run a job again")
async def api_retry(job_id: JobId, admin: CsrfAdmin, web: WebDep) -> models.Job:
    """A failed or cancelled job runs again as a new job, charged again."""
    return await retry(web, admin, job_id)


@api.get("/payments", response_model=models.PaymentPage, summary="Payments, newest first")
async def api_payments(
    admin: AdminDep, web: WebDep, telegram_id: OwnerFilter = 0, page_token: PageToken = ""
) -> models.PaymentPage:
    return await load_payments(web, admin, telegram_id, page_token)


class RefundRequest(BaseModel):
    reason: str = Field(default="", max_length=200)


@api.post("/payments/{charge_id}/refund", response_model=models.Refunded, summary="Refund")
async def api_refund(
    charge_id: ChargeId, body: RefundRequest, admin: CsrfAdmin, web: WebDep
) -> models.Refunded:
    """RefundPayment in billing, then refundStarPayment at Telegram."""
    return await refund(web, admin, charge_id, body.reason)


@api.get("/audit", response_model=models.AuditPage, summary="The audit log, newest first")
async def api_audit(
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerFilter = 0,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    page_token: PageToken = "",
) -> models.AuditPage:
    return await load_audit(web, admin, telegram_id, actor, action, page_token)


# --- the pages -----------------------------------------------------------------------


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return render(
        request,
        f"admin/{name}.html",
        {"done": request.query_params.get("done", ""), "section": name, **context},
    )


@pages.get("", response_class=HTMLResponse)
async def stats_page(request: Request, admin: AdminDep, web: WebDep) -> HTMLResponse:
    return _page(request, "stats", {"stats": await load_stats(web, admin)})


@pages.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request,
    admin: AdminDep,
    web: WebDep,
    query: Annotated[str, Query(max_length=64)] = "",
    page_token: PageToken = "",
) -> HTMLResponse:
    found = await load_users(web, admin, query, page_token)
    return _page(request, "users", {"found": found, "query": query})


@pages.get("/users/{telegram_id}", response_class=HTMLResponse)
async def user_page(
    request: Request, telegram_id: UserId, admin: AdminDep, web: WebDep
) -> HTMLResponse:
    view = await load_user(web, admin, telegram_id)
    return _page(request, "user", {"view": view, "grant_key": uuid.uuid4().hex})


@pages.post("/users/{telegram_id}/grant")
async def grant_form(
    telegram_id: UserId,
    admin: CsrfAdmin,
    web: WebDep,
    amount: Annotated[int, Form(ge=-1_000_000, le=1_000_000)],
    reason: Annotated[str, Form(min_length=1, max_length=200)],
    idempotency_key: Annotated[str, Form(min_length=1, max_length=128)],
) -> RedirectResponse:
    await grant(web, admin, telegram_id, amount, reason, idempotency_key)
    return RedirectResponse(f"/admin/users/{telegram_id}?done=granted", status_code=303)


@pages.post("/users/{telegram_id}/ban")
async def ban_form(
    telegram_id: UserId,
    admin: CsrfAdmin,
    web: WebDep,
    banned: Annotated[bool, Form()],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    await ban(web, admin, telegram_id, banned, reason)
    done = "banned" if banned else "unbanned"
    return RedirectResponse(f"/admin/users/{telegram_id}?done={done}", status_code=303)


@pages.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerBox = "",
    status: Status = "",
    kind: Kind = "",
    provider: Annotated[str, Query(max_length=32)] = "",
    page_token: PageToken = "",
) -> HTMLResponse:
    found = await load_jobs(web, admin, int(telegram_id or 0), status, kind, provider, page_token)
    filters = {"telegram_id": telegram_id, "status": status, "kind": kind, "provider": provider}
    return _page(request, "jobs", {"found": found, "filters": filters})


@pages.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    job_id: JobId,
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerBox = "",
) -> HTMLResponse:
    job = await load_job(web, admin, int(telegram_id or 0), job_id)
    urls = await views.thumbnails(web, [job])
    return _page(request, "job", {"job": job, "urls": urls.get(job.id, [])})


@pages.post("/jobs/{job_id}/retry")
async def retry_form(job_id: JobId, admin: CsrfAdmin, web: WebDep) -> RedirectResponse:
    job = await retry(web, admin, job_id)
    return RedirectResponse(
        f"/admin/jobs/{job.id}?telegram_id={job.telegram_id}&done=retried", status_code=303
    )


@pages.get("/payments", response_class=HTMLResponse)
async def payments_page(
    request: Request,
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerBox = "",
    page_token: PageToken = "",
) -> HTMLResponse:
    found = await load_payments(web, admin, int(telegram_id or 0), page_token)
    return _page(request, "payments", {"found": found, "telegram_id": telegram_id})


@pages.post("/payments/{charge_id}/refund")
async def refund_form(
    charge_id: ChargeId,
    admin: CsrfAdmin,
    web: WebDep,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    done = await refund(web, admin, charge_id, reason)
    return RedirectResponse(
        f"/admin/payments?telegram_id={done.payment.telegram_id}&done=refunded", status_code=303
    )


@pages.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    admin: AdminDep,
    web: WebDep,
    telegram_id: OwnerBox = "",
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    page_token: PageToken = "",
) -> HTMLResponse:
    found = await load_audit(web, admin, int(telegram_id or 0), actor, action, page_token)
    filters = {"telegram_id": telegram_id, "actor": actor, "action": action}
    return _page(request, "audit", {"found": found, "filters": filters})


router = APIRouter()
router.include_router(api)
router.include_router(pages)
