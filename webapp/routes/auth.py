"""Logging in and out: the Mini App's initData, the bot's signed link (in the cabinet
route), and the development login; every login starts a new session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from mediabot.billing.v1 import billing_pb2 as bpb
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from common.errors import AccountBlocked
from common.validate import MAX_ID
from webapp.auth import check_init_data
from webapp.deps import CsrfSession, Web, WebDep
from webapp.errors import ERROR_RESPONSES, CsrfRefused
from webapp.security import same_origin
from webapp.sessions import Session

router = APIRouter()


class LoggedIn(BaseModel):
    """A new session started (its cookie is set); go to `redirect`."""

    telegram_id: int
    redirect: str
    csrf_token: str = Field(description="send it as X-CSRF-Token with state-changing calls")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None, default: str = "/cabinet") -> str:
    """A path on this site to go to after logging in (never another site)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


async def start_session(request: Request, response: Response, web: Web, user: bpb.User) -> Session:
    """Refuse banned users; otherwise end the request's old session (a new id at every
    login) and start one, setting its cookie on `response`."""
    if user.banned:
        raise AccountBlocked("the account is banned")
    old = request.cookies.get(web.cookie_name)
    if old:
        await web.sessions.delete(old)
    session = await web.sessions.create(user.telegram_id, user.language or "en")
    secure = web.settings.secure_cookies
    response.set_cookie(
        web.cookie_name,
        session.id,
        max_age=web.settings.SESSION_TTL_SECONDS,
        path="/",
        httponly=True,
        secure=secure,
        # Telegram's web clients frame the Mini App from another site, where a Lax cookie
        # is not sent: over HTTPS the cookie is SameSite=None, partitioned by that site.
        samesite="none" if secure else "lax",
        partitioned=secure,
    )
    request.state.session = session
    return session


@router.post(
    "/auth/telegram",
    response_model=LoggedIn,
    responses=ERROR_RESPONSES,
    tags=["auth"],
    summary="Log in with the Mini App's initData",
)
async def login_with_init_data(
    request: Request,
    response: Response,
    web: WebDep,
    init_data: Annotated[str, Form(description="the raw initData string")] = "",
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> LoggedIn:
    """Checks `init_data` as Telegram specifies (HMAC with the bot token, auth_date fresh),
    creates the user on first contact (EnsureUser) and starts a session."""
    if not same_origin(request, web.settings):
        raise CsrfRefused("cross-site login refused")
    await web.limiter.hit(client_address(request))
    login = check_init_data(
        init_data,
        web.settings.BOT_TOKEN.get_secret_value(),
        web.settings.INIT_DATA_MAX_AGE_SECONDS,
    )
    referral = login.start_param[4:] if login.start_param.startswith("ref_") else ""
    answer = await web.services.billing.EnsureUser(
        bpb.EnsureUserRequest(
            telegram_id=login.telegram_id,
            username=login.username,
            language_code=login.language_code,
            referral_code=referral,
        )
    )
    session = await start_session(request, response, web, answer.user)
    return LoggedIn(
        telegram_id=login.telegram_id, redirect=safe_next(next), csrf_token=session.csrf
    )


@router.get("/auth/dev/{telegram_id}", include_in_schema=False)
async def dev_login(
    request: Request, web: WebDep, telegram_id: int, next: str | None = None
) -> Response:
    """Development only (WEBAPP_DEV_AUTH=1): log in as anyone."""
    if not web.settings.WEBAPP_DEV_AUTH:
        raise HTTPException(404)
    if not 0 < telegram_id < MAX_ID:
        raise HTTPException(404)
    await web.limiter.hit(client_address(request))
    answer = await web.services.billing.EnsureUser(
        bpb.EnsureUserRequest(
            telegram_id=telegram_id, language_code=request.query_params.get("lang", "")
        )
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    await start_session(request, response, web, answer.user)
    return response


@router.post("/auth/logout", include_in_schema=False)
async def logout(request: Request, web: WebDep, session: CsrfSession) -> Response:
    await web.sessions.delete(session.id)
    response = RedirectResponse("/cabinet", status_code=303)
    response.delete_cookie(
        web.cookie_name, path="/", secure=web.settings.secure_cookies, httponly=True
    )
    return response
