"""The cabinet's pages (the Mini App): home, create, buy, history, ledger and a live job.

Without a session a page answers with the login page, whose script logs in with the Mini
App's initData and reloads; `/cabinet?auth=<token>` logs in with the bot's signed link."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from mediabot.billing.v1 import billing_pb2 as bpb
from mediabot.jobs.v1 import jobs_pb2 as jpb

from webapp import models, views
from webapp.auth import check_cabinet_token
from webapp.deps import OptionalSession, SessionDep, WebDep
from webapp.pages import render
from webapp.routes.api import JobId, PageToken
from webapp.routes.auth import client_address, start_session

router = APIRouter(include_in_schema=False)

#: Ledger kinds the cabinet has words for; others show as they are.
LEDGER_KINDS = (
    "free",
    "reserve",
    "release",
    "purchase",
    "refund",
    "subscription",
    "referral",
    "grant",
)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/cabinet", status_code=303)


@router.get("/cabinet", response_class=HTMLResponse)
async def home(
    request: Request,
    web: WebDep,
    session: OptionalSession,
    auth: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    if auth is not None:
        await web.limiter.hit(client_address(request))
        telegram_id = check_cabinet_token(web.settings.WEBAPP_SECRET.get_secret_value(), auth)
        user = (
            await web.services.billing.GetUser(bpb.GetUserRequest(telegram_id=telegram_id))
        ).user
        # The token leaves the address bar (and the history) at once.
        response = RedirectResponse("/cabinet", status_code=303)
        await start_session(request, response, web, user)
        return response
    if session is None:
        return render(request, "login.html", {"status": 200})
    me = await views.me(web, session)
    return render(request, "home.html", {"me": me, "page": "home"})


@router.get("/cabinet/create", response_class=HTMLResponse)
async def create(request: Request, web: WebDep, session: SessionDep) -> HTMLResponse:
    me, offers = await asyncio.gather(views.me(web, session), views.offers(web))
    return render(
        request,
        "create.html",
        {
            "me": me,
            "offers": offers,
            "offers_json": [o.model_dump() for o in offers],
            "kinds": list(dict.fromkeys(o.kind for o in offers)),
            "client_key": uuid.uuid4().hex,
            "page": "create",
            "back": "/cabinet",
        },
    )


@router.get("/cabinet/buy", response_class=HTMLResponse)
async def buy(request: Request, web: WebDep, session: SessionDep) -> HTMLResponse:
    me, products = await asyncio.gather(views.me(web, session), views.products(web))
    return render(
        request,
        "buy.html",
        {"me": me, "products": products, "page": "buy", "back": "/cabinet"},
    )


@router.get("/cabinet/history", response_class=HTMLResponse)
async def history(
    request: Request, web: WebDep, session: SessionDep, page_token: PageToken = ""
) -> HTMLResponse:
    page = await views.job_page(web.services.jobs, session.telegram_id, page_token)
    urls = await views.thumbnails(web, page.jobs)
    return render(
        request,
        "history.html",
        {
            "jobs": page.jobs,
            "urls": urls,
            "next_page_token": page.next_page_token,
            "first": not page_token,
            "page": "history",
            "back": "/cabinet",
        },
    )


@router.get("/cabinet/ledger", response_class=HTMLResponse)
async def ledger(
    request: Request, web: WebDep, session: SessionDep, page_token: PageToken = ""
) -> HTMLResponse:
    page = await views.ledger_page(web.services.billing, session.telegram_id, page_token)
    return render(
        request,
        "ledger.html",
        {
            "entries": page.entries,
            "next_page_token": page.next_page_token,
            "ledger_kinds": LEDGER_KINDS,
            "first": not page_token,
            "page": "ledger",
            "back": "/cabinet",
        },
    )


@router.get("/cabinet/jobs/{job_id}", response_class=HTMLResponse)
async def job(request: Request, job_id: JobId, web: WebDep, session: SessionDep) -> HTMLResponse:
    answer = await web.services.jobs.GetJob(
        jpb.GetJobRequest(job_id=job_id, telegram_id=session.telegram_id)
    )
    current = models.job_of(answer.job)
    urls = await views.thumbnails(web, [current])
    return render(
        request,
        "job.html",
        {
            "job": current,
            "urls": urls.get(current.id, []),
            "page": "job",
            "back": "/cabinet/history",
        },
    )
