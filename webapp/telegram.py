"""The few Bot API calls the web app makes itself: invoice links for the Mini App, Stars
refunds for admins, and sending a result to the person's chat again."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from common.errors import RateLimited, Unavailable

log = logging.getLogger(__name__)
#: httpx logs every request URL at INFO, and a Bot API URL holds the bot's token.
logging.getLogger("httpx").setLevel(logging.WARNING)


class TelegramError(Unavailable):
    """The Bot API refused a call or could not be reached; `description` is Telegram's."""

    def __init__(self, description: str, code: int = 0) -> None:
        super().__init__(f"Telegram: {description}")
        self.description = description
        self.code = code


class BotApi:
    """Calls `TELEGRAM_API_URL/bot<token>/<method>`; never logs the token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._client = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self, method: str, params: dict[str, Any], files: dict[str, Any] | None = None
    ) -> Any:
        data = {
            k: (json.dumps(v) if isinstance(v, dict | list) else str(v))
            for k, v in params.items()
            if v is not None
        }
        try:
            response = await self._client.post(self._url + method, data=data, files=files)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "Bot API unreachable", extra={"method": method, "error": type(exc).__name__}
            )
            raise TelegramError("unreachable") from None
        if not answer.get("ok"):
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            if retry_after:
                raise RateLimited(
                    "Telegram asks to wait",
                    limit_per_minute=60,
                    retry_after_seconds=int(retry_after),
                )
            description = str(answer.get("description", "error"))
            log.warning("Bot API refused", extra={"method": method, "description": description})
            raise TelegramError(description, int(answer.get("error_code") or 0))
        return answer["result"]

    async def create_invoice_link(
        self,
        title: str,
        description: str,
        payload: str,
        currency: str,
        amount: int,
        subscription_period: int = 0,
    ) -> str:
        """An invoice link in Stars (XTR: no provider token)."""
        params: dict[str, Any] = {
            "title": title,
            "description": description,
            "payload": payload,
            "provider_token": "",
            "currency": currency,
            "prices": [{"label": title, "amount": amount}],
        }
        if subscription_period:
            params["subscription_period"] = subscription_period
        return str(await self.call("createInvoiceLink", params))

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give the Stars back; a charge Telegram already refunded counts as done."""
        try:
            await self.call(
                "refundStarPayment", {"user_id": user_id, "telegram_payment_charge_id": charge_id}
            )
        except TelegramError as exc:
            if "ALREADY_REFUNDED" not in exc.description.upper():
                raise

    async def send_result(self, chat_id: int, data: bytes, mime_type: str, caption: str) -> int:
        """Send a result as a photo or video (a document when Telegram would not show it
        as one); the message id."""
        if mime_type.startswith("image/") and mime_type != "image/gif":
            method, field = "sendPhoto", "photo"
        elif mime_type == "video/mp4":
            method, field = "sendVideo", "video"
        else:
            method, field = "sendDocument", "document"
        extension = mime_type.rsplit("/", 1)[-1]
        files = {field: (f"result.{extension}", data, mime_type)}
        sent = await self.call(method, {"chat_id": chat_id, "caption": caption[:1024]}, files)
        return int(sent["message_id"])

    async def fetch(self, url: str, limit: int) -> bytes:
        """The bytes at `url` (a presigned result link), at most `limit` of them."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._client.stream("GET", url) as response:
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise TelegramError("the file is too large")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            log.warning("result download failed", extra={"error": type(exc).__name__})
            raise TelegramError("the result could not be fetched") from None
        return b"".join(chunks)
