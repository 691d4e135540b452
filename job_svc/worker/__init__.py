"""Workers: `python -m job_svc.worker` takes jobs from the queue and runs them."""

from job_svc.worker.runner import Worker

__all__ = ["Worker"]
