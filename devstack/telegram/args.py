"""Method arguments as the Bot API reads them: from the query string, a form, multipart or JSON.

Like telegram-bot-api, every argument becomes a string first (a JSON body's non-string values
are re-encoded as JSON text), and each method parses the strings it needs. Files come from
multipart fields, named directly or through `attach://<field>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devstack.telegram.errors import ENTITY_TOO_LARGE, bad_request


@dataclass(frozen=True)
class Upload:
    """A file sent in the request body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Remote:
    """A file named by a file_id or an HTTP URL."""

    value: str

    @property
    def is_url(self) -> bool:
        return self.value.startswith(("http://", "https://"))


InputFile = Upload | Remote


class Args:
    """The arguments of one call, with the parsing rules of telegram-bot-api."""

    def __init__(self, values: dict[str, str], files: dict[str, Upload] | None = None):
        self.values = values
        self.files = files or {}

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def has(self, name: str) -> bool:
        return bool(self.values.get(name))

    def required(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise bad_request(f'parameter "{name}" is required')
        return value

    def integer(
        self, name: str, default: int = 0, lo: int | None = None, hi: int | None = None
    ) -> int:
        """An integer argument; like Telegram, a missing or unreadable one is `default`, and
        one out of [lo, hi] is clamped."""
        raw = self.get(name).strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            value = default
        if lo is not None:
            value = max(lo, value)
        if hi is not None:
            value = min(hi, value)
        return value

    def flag(self, name: str) -> bool:
        return self.get(name).strip().lower() in ("true", "yes", "1")

    def parsed(self, name: str, what: str) -> Any:
        """A JSON-encoded argument, or None when it is absent."""
        raw = self.get(name)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None

    def input_file(self, name: str) -> InputFile | None:
        """The file an argument names: an upload (direct or `attach://`), a file_id or a URL."""
        return self.resolve_file(self.get(name), name)

    def resolve_file(self, value: str, field: str = "") -> InputFile | None:
        if value.startswith("attach://"):
            return self.files.get(value.removeprefix("attach://"))
        if value:
            return Remote(value)
        return self.files.get(field) if field else None


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def read_args(request: web.Request) -> Args:
    """Every argument of a Bot API call: query string, then the body (which wins)."""
    values = {key: request.query.getone(key) for key in request.query}
    files: dict[str, Upload] = {}
    if request.method == "POST" and request.body_exists:
        try:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise bad_request("JSON body must be an object")
                values.update({k: as_text(v) for k, v in body.items() if v is not None})
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, field in form.items():
                    if isinstance(field, web.FileField):
                        files[key] = Upload(
                            key,
                            field.filename or key,
                            field.content_type or "application/octet-stream",
                            field.file.read(),
                        )
                    else:
                        values[key] = field if isinstance(field, str) else bytes(field).decode()
        except web.HTTPRequestEntityTooLarge:
            raise ENTITY_TOO_LARGE from None
        except ValueError:
            raise bad_request("can't parse the request body") from None
    return Args(values, files)
