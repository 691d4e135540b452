"""`python -m job_svc`: run the job service until SIGTERM."""

import uvloop

from common.logs import setup_logging
from common.server.rpc import run_until_signalled
from common.settings import load_settings
from job_svc.server import create_server
from job_svc.settings import JobSettings


async def main() -> None:
    settings = load_settings(JobSettings)
    setup_logging(settings.LOG_LEVEL)
    await run_until_signalled(await create_server(settings))


if __name__ == "__main__":
    uvloop.run(main())
