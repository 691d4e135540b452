"""The terms of service, privacy policy and refund policy, in the person's language, with
the operator's particulars from the settings (LEGAL_*)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from webapp.deps import Language, OptionalSession, WebDep
from webapp.pages import render

router = APIRouter(include_in_schema=False)
DOCUMENTS = ("terms", "privacy", "refunds")


@router.get("/legal/{document}", response_class=HTMLResponse)
async def legal(
    request: Request,
    document: str,
    web: WebDep,
    session: OptionalSession,
    lang: Language,
) -> HTMLResponse:
    if document not in DOCUMENTS:
        raise HTTPException(404)
    settings = web.settings
    missing = "—"
    return render(
        request,
        f"legal/{document}.{lang}.html",
        {
            "document": document,
            "service": settings.LEGAL_SERVICE_NAME,
            "operator": settings.LEGAL_OPERATOR or missing,
            "contact": settings.LEGAL_CONTACT or missing,
            "jurisdiction": settings.LEGAL_JURISDICTION or missing,
            "effective": settings.LEGAL_EFFECTIVE_DATE,
            "bot": f"@{settings.BOT_USERNAME}"
            if settings.BOT_USERNAME
            else settings.LEGAL_SERVICE_NAME,
            "incomplete": not (
                settings.LEGAL_OPERATOR and settings.LEGAL_CONTACT and settings.LEGAL_JURISDICTION
            ),
        },
    )
