"""`/healthz`: whether both services serve and Redis answers (503 otherwise)."""

from __future__ import annotations

import redis.exceptions
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from webapp.deps import WebDep
from webapp.models import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "something is down"}},
    summary="Health of the web app's dependencies",
)
async def healthz(web: WebDep) -> JSONResponse:
    found = await web.services.health()
    try:
        await web.redis.ping()
        store = "ok"
    except (redis.exceptions.RedisError, OSError):
        store = "unreachable"
    serving = all(v == "SERVING" for v in found.values()) and store == "ok"
    body = Health(status="ok" if serving else "degraded", redis=store, **found)
    return JSONResponse(body.model_dump(), status_code=200 if serving else 503)
