"""Summarize py-spy's raw (collapsed) stacks: the frames that take the server's CPU.

`python -m bench.pyspy FILE [N]` prints the top N frames by self time and by inclusive time,
and groups them by task (HTTP requests, the ledger's writer, the relay, the projector, ...) and
by package (stockledger, fastapi, starlette, asyncpg, ...), each as a share of the samples in
which the server was running (py-spy leaves idle samples out).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FILE = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)$")


def _package(frame: str) -> str:
    match = _FILE.search(frame)
    path = match.group("file") if match else frame
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") if "/" in path or head.endswith(".py") else path


def _task(frames: list[str]) -> str:
    """What the sample was doing: the frame right under the event loop (a task's coroutine)."""
    for i, frame in enumerate(frames):
        if frame.startswith("Runner.run ") or frame.startswith("run_forever "):
            below = frames[i + 1 :]
            if not below:
                return "event loop itself (I/O, callbacks)"
            if below[0].startswith("RequestResponseCycle.run_asgi"):
                return "HTTP requests"
            return below[0].split(" (", 1)[0]
    return frames[0].split(" (", 1)[0]


def summarize(path: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        tasks[_task(frames)] += n
        for frame in set(frames):
            within[frame] += n
    if not total:
        return f"{path}: no samples"
    out = [f"{path.name}: {total} samples", "by task:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in tasks.most_common(12)]
    out += ["self:"] + [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in within.most_common(top * 2)]
    out += ["self by package:"]
    out += [f"  {100 * n / total:5.1f}%  {p}" for p, n in packages.most_common(15)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
