"""Run a command N times in a row while every core is kept busy, and stop the load whatever happens.

`make test-under-load` uses it to show the suite does not depend on wall-clock timing: a loaded CI machine is the
normal case, not an exception. Exit: the first failing run's exit code, else 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import shlex
import subprocess
import sys
import time


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--run", required=True, help="the command to run (a shell-style string)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="busy processes (default: cores)")
    args = parser.parse_args(argv)
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.workers)]
    for spinner in spinners:
        spinner.start()
    try:
        for attempt in range(1, args.repeat + 1):
            started = time.monotonic()
            code = subprocess.run(shlex.split(args.run), check=False).returncode
            print(
                f"cpu_load: run {attempt}/{args.repeat} under {args.workers} busy processes: exit {code} in "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
            if code != 0:
                return code
        return 0
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
