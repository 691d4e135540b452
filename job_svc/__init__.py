"""job_svc: generation jobs, their queue, workers, providers and results."""
