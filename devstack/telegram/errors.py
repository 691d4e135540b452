"""Bot API refusals: `{"ok": false, "error_code": …, "description": …}` as Telegram sends."""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """A refusal the Bot API answers with `ok: false`; `description` carries Telegram's prefix."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(message: str) -> ApiError:
    """400 "Bad Request: <message>"."""
    return ApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> ApiError:
    """403 "Forbidden: <message>"."""
    return ApiError(403, f"Forbidden: {message}")


def too_many_requests(wait_seconds: float) -> ApiError:
    """429 with `parameters.retry_after`: whole seconds, at least 1, as Telegram rounds them."""
    retry_after = max(1, math.ceil(wait_seconds))
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


UNAUTHORIZED = ApiError(401, "Unauthorized")
INVALID_TOKEN = ApiError(401, "Unauthorized: invalid token specified")
METHOD_NOT_FOUND = ApiError(404, "Not Found: method not found")
NOT_FOUND = ApiError(404, "Not Found")
ENTITY_TOO_LARGE = ApiError(413, "Request Entity Too Large")
CHAT_NOT_FOUND = bad_request("chat not found")
