"""`python -m billing_svc`: run the billing service until SIGTERM."""

import uvloop

from billing_svc.server import create_server
from billing_svc.settings import BillingSettings
from common.logs import setup_logging
from common.server.rpc import run_until_signalled
from common.settings import load_settings


async def main() -> None:
    settings = load_settings(BillingSettings)
    setup_logging(settings.LOG_LEVEL)
    await run_until_signalled(await create_server(settings))


if __name__ == "__main__":
    uvloop.run(main())
