"""What can be made and for how much, as job_svc says (cached for a minute)."""

from __future__ import annotations

import time

from mediabot.jobs.v1 import jobs_pb2 as pb

from bot_gateway.services import Services
from bot_gateway.texts import t

#: Job kinds by the names the bot's buttons and commands use.
KINDS = {"image": pb.JOB_KIND_IMAGE, "edit": pb.JOB_KIND_EDIT, "video": pb.JOB_KIND_VIDEO}
_TTL_SECONDS = 60.0


class Catalog:
    """job_svc's offers: price, provider and accepted options per kind and quality."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._offers: dict[tuple[int, int], pb.Offer] = {}
        self._read_at = -_TTL_SECONDS

    async def offers(self) -> dict[tuple[int, int], pb.Offer]:
        if time.monotonic() - self._read_at >= _TTL_SECONDS:
            answer = await self._services.call(
                self._services.jobs.ListOffers, pb.ListOffersRequest()
            )
            self._offers = {(o.kind, o.quality): o for o in answer.offers}
            self._read_at = time.monotonic()
        return self._offers

    async def offer(self, kind: int, quality: int) -> pb.Offer:
        return (await self.offers())[(kind, quality)]

    async def price_lines(self) -> str:
        """One line per kind: its standard and PRO price, in the user's language."""
        offers = await self.offers()
        return "\n".join(
            t(
                "bot.price_line",
                kind=t(f"bot.kind.{name}"),
                standard=offers[(kind, pb.QUALITY_STANDARD)].price,
                pro=offers[(kind, pb.QUALITY_PRO)].price,
            )
            for name, kind in KINDS.items()
        )
