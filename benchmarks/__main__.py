"""`make bench`: every benchmark, printed as tables.

`python -m benchmarks [billing] [bot] [create e2e dispatch capacity fanout]` runs a subset.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import uvloop

from benchmarks import billing, bot, jobs
from benchmarks.harness import engines


def main() -> None:
    uvloop.install()
    chosen = sys.argv[1:]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    with engines(Path(".data") / "bench") as env:
        if not chosen or "billing" in chosen:
            print(billing.run(env), flush=True)
        if not chosen or "bot" in chosen:
            print(bot.run(env), flush=True)
        job_benches = [name for name in chosen if name not in ("billing", "bot")]
        if not chosen or job_benches:
            jobs.run(env, job_benches or None, show=lambda table: print(table, flush=True))


if __name__ == "__main__":
    main()
