"""The Telegram bot: a thin gRPC client of billing_svc and job_svc (aiogram 3).

`python -m bot_gateway` runs it with long polling, or as a webhook server when
BOT_WEBHOOK_URL is set (several replicas). It keeps no database: dialogs and
limits live in Redis, everything else comes from the services.
"""

from bot_gateway.lazy_models import import_aiogram

import_aiogram()  # before any module of the bot imports aiogram: its models stay deferred
