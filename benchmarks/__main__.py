"""`make bench`: every benchmark, printed as tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import uvloop

from benchmarks import billing
from benchmarks.harness import engines


def main() -> None:
    uvloop.install()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    with engines(Path(".data") / "bench") as env:
        print(billing.run(env), flush=True)


if __name__ == "__main__":
    main()
