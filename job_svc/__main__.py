"""`python -m job_svc`: run the job service until SIGTERM."""

import gc
import logging

import uvloop

from common.logs import setup_logging
from common.server.rpc import run_until_signalled
from common.settings import load_settings
from job_svc.server import create_server
from job_svc.settings import JobSettings

log = logging.getLogger("job_svc")

#: Net allocations of container objects between two young garbage collections
#: (CPython's default is 700): see `settle_heap`.
YOUNG_COLLECTION_EVERY = 200_000


def settle_heap() -> None:
    """Set the garbage collector for a process holding thousands of WatchJob streams.

    Each waiting stream holds a few small objects (futures, generator frames,
    its last message) that every event replaces and that then live until the
    next one, about a second. CPython counts net allocations towards a young
    collection, so this churn hardly moves the count while the young
    generation fills with every stream's live set: with 10,000 streams each
    young collection scanned over 100,000 objects (50-80 ms), several times a
    second, and promoted them, so a full collection of the whole heap (about
    750,000 objects, 0.4-0.6 s, freeing nothing) followed every 10 s or so.

    Counting to 200,000 instead, young collections follow real growth of the
    heap or piling cycles rather than the churn, and so do the older
    generations'. The count still creeps up with the churn (a deallocation
    at a count of 0 is not counted): a few thousand a second with 10,000
    streams at 200 events/s, so a young collection (about 100 ms at that
    size) comes every minute or so. Every generation is still collected;
    only cyclic garbage waits longer (at most 200,000 objects, some tens of
    MB), and neither fanning out an event nor ending a stream makes any
    (tests/jobs/test_watch_memory.py). What start-up built lives as long as
    the process: it is frozen out of every later collection.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
    log.info(
        "garbage collector set",
        extra={"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()},
    )


async def main() -> None:
    settings = load_settings(JobSettings)
    setup_logging(settings.LOG_LEVEL)
    service = await create_server(settings)
    settle_heap()
    await run_until_signalled(service)


if __name__ == "__main__":
    uvloop.run(main())
