"""What this deployment is made of: the services' migrations and the processes
`make up` starts, in order."""

from __future__ import annotations

import importlib.util

#: Migration packages, in the order they apply (each declares its schema).
MIGRATIONS = ("billing_svc.migrations", "job_svc.migrations")

#: What `up` runs, in order: (name, module, address setting or None).
PROCESSES = [
    ("billing", "billing_svc", "BILLING_GRPC_ADDR"),
    ("jobs", "job_svc", "JOBS_GRPC_ADDR"),
    ("worker", "job_svc.worker", None),
    ("web", "webapp", "WEBAPP_ADDR"),
]
if importlib.util.find_spec("bot_gateway.__main__") is not None:  # the bot, once it exists
    PROCESSES.append(("bot", "bot_gateway", None))
