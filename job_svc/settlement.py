"""Money follows a finished job: its hold is captured on success, released otherwise."""

from __future__ import annotations

import logging

from common.errors import HoldCaptured, HoldReleased, NotFound, Unavailable, UpstreamRefused
from job_svc.billing_client import BillingClient
from job_svc.model import Charge, Job, JobStatus
from job_svc.storage import ObjectStore
from job_svc.store import JobStore

log = logging.getLogger(__name__)


class Settlement:
    """Settles finished jobs with billing and removes what killed attempts stored."""

    def __init__(self, store: JobStore, billing: BillingClient, objects: ObjectStore) -> None:
        self._store = store
        self._billing = billing
        self._objects = objects

    async def settle(self, job: Job) -> None:
        """Capture the hold of a succeeded job, release that of a failed or cancelled one.

        Safe to repeat: billing answers a second capture or release with the first.
        """
        if job.charge != Charge.HELD or not job.finished or job.reservation_id is None:
            return
        try:
            if job.status == JobStatus.SUCCEEDED:
                await self._billing.capture(job.reservation_id)
                charge = Charge.CAPTURED
            else:
                await self._billing.release(job.reservation_id, f"job {job.status}: {job.error}")
                charge = Charge.RELEASED
        except (Unavailable, UpstreamRefused) as exc:
            log.warning("cannot settle yet; later", extra={"job": str(job.id), "error": str(exc)})
            return
        except NotFound:
            # Billing has no such hold (its data was restored from before it was
            # made): nothing was taken, so nothing is left to capture or give back.
            charge = Charge.RELEASED
            log.error("billing does not know the hold", extra={"job": str(job.id)})
        except (HoldReleased, HoldCaptured) as exc:
            # The hold was finished elsewhere (e.g. it expired): record what it became.
            charge = Charge.RELEASED if isinstance(exc, HoldReleased) else Charge.CAPTURED
            log.error("hold already settled", extra={"job": str(job.id), "reason": exc.reason})
        await self._store.mark_settled(job.id, charge)

    async def remove_leftovers(self, job: Job, keep: str | None = None) -> None:
        """Delete what attempts of killed workers stored, keeping the input and `keep`."""
        for key in await self._objects.keys(f"jobs/{job.id}/"):
            if key not in (keep, job.input_key):
                await self._objects.delete(key)
