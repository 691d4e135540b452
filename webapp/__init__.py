"""webapp: the Mini App cabinet and admin page (FastAPI), a thin gRPC client of the services."""
