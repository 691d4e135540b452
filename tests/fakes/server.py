"""What every fake provider server shares: scenarios picked by a keyword in the prompt,
and an aiohttp server on a free local port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Scenarios:
    """Scenario control of a fake: `scenarios` maps a keyword found in a prompt to the
    scenario it picks (every scenario name is its own keyword), `force` picks one for
    every call."""

    scenarios: dict[str, str] = field(default_factory=dict)
    #: A scenario for every call, whatever the prompt says.
    force: str | None = None
    _served: dict[tuple[str, str], int] = field(default_factory=dict)

    def scenario_for(self, prompt: str) -> str | None:
        if self.force is not None:
            return self.force
        lowered = prompt.lower()
        # Longest keyword first, so "429-once" wins over "429".
        for keyword in sorted(self.scenarios, key=len, reverse=True):
            if keyword.lower() in lowered:
                return self.scenarios[keyword]
        return None

    def first_time(self, scenario: str, prompt: str) -> bool:
        """Whether this is the first call of `scenario` with `prompt` (for "…-once")."""
        served = self._served.get((scenario, prompt), 0)
        self._served[(scenario, prompt)] = served + 1
        return served == 0


@asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], client_max_size: int
) -> AsyncIterator[str]:
    """`handler` answering every path on 127.0.0.1 at a free port; yields the base URL."""
    app = web.Application(client_max_size=client_max_size)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
