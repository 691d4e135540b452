"""bot_gateway: the Telegram bot (aiogram 3), a thin gRPC client of billing_svc and job_svc."""
