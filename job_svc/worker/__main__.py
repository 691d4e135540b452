"""`python -m job_svc.worker`: run a worker until SIGTERM, then hand back what it holds."""

import asyncio
import logging
import os
import signal
import socket
import uuid

import uvloop

from common.logs import setup_logging
from common.settings import load_settings
from job_svc.domain import open_domain
from job_svc.settings import JobSettings
from job_svc.worker.runner import Worker

log = logging.getLogger("job_svc.worker")


async def main() -> None:
    settings = load_settings(JobSettings)
    setup_logging(settings.LOG_LEVEL)
    async with open_domain(settings) as domain:
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        worker = Worker.from_domain(domain, name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        log.info("worker started", extra={"worker": name, "providers": domain.jobs.describe()})
        try:
            await worker.run()
        finally:
            log.info("worker stopped", extra={"worker": name})


if __name__ == "__main__":
    uvloop.run(main())
