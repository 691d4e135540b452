"""The bot's part in a Stars payment, played by the tests until bot_gateway is merged: it
reads updates from the local Telegram, answers each pre_checkout_query with billing's
PreCheckout, and records each successful_payment with CompletePayment — the calls the bot
makes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
from mediabot.billing.v1 import billing_pb2 as bpb

from common.clients import refusal


class BotPart:
    def __init__(self, telegram_url: str, token: str, billing: Any) -> None:
        self._api = f"{telegram_url}/bot{token}/"
        self._billing = billing
        self.completed: list[bpb.CompletePaymentResponse] = []
        self.declined: list[str] = []

    async def _call(self, client: httpx.AsyncClient, method: str, **params: Any) -> Any:
        answer = (await client.post(self._api + method, json=params)).json()
        assert answer["ok"], answer
        return answer["result"]

    async def run(self) -> None:
        offset = 0
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                updates = await self._call(client, "getUpdates", offset=offset, timeout=1)
                for update in updates:
                    offset = update["update_id"] + 1
                    await self._handle(client, update)

    async def _handle(self, client: httpx.AsyncClient, update: dict[str, Any]) -> None:
        query = update.get("pre_checkout_query")
        if query is not None:
            try:
                await self._billing.PreCheckout(
                    bpb.PreCheckoutRequest(
                        telegram_id=query["from"]["id"],
                        invoice_payload=query["invoice_payload"],
                        currency=query["currency"],
                        total_amount=query["total_amount"],
                    )
                )
                await self._call(
                    client, "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True
                )
            except grpc.aio.AioRpcError as exc:
                self.declined.append(refusal(exc).reason)
                await self._call(
                    client,
                    "answerPreCheckoutQuery",
                    pre_checkout_query_id=query["id"],
                    ok=False,
                    error_message=exc.details() or "refused",
                )
            return
        paid = (update.get("message") or {}).get("successful_payment")
        if paid is not None:
            done = await self._billing.CompletePayment(
                bpb.CompletePaymentRequest(
                    telegram_id=update["message"]["from"]["id"],
                    invoice_payload=paid["invoice_payload"],
                    currency=paid["currency"],
                    total_amount=paid["total_amount"],
                    telegram_payment_charge_id=paid["telegram_payment_charge_id"],
                    provider_payment_charge_id=paid.get("provider_payment_charge_id", ""),
                    subscription_expiration_date=paid.get("subscription_expiration_date", 0),
                    is_recurring=paid.get("is_recurring", False),
                    is_first_recurring=paid.get("is_first_recurring", False),
                )
            )
            self.completed.append(done)


@contextlib.asynccontextmanager
async def bot_part(telegram_url: str, token: str, billing: Any) -> AsyncIterator[BotPart]:
    part = BotPart(telegram_url, token, billing)
    task = asyncio.create_task(part.run())
    try:
        yield part
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
