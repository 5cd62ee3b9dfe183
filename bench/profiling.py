"""Profiles of the slow paths: cProfile in-process, py-spy's folded stacks for the server."""

import cProfile
import io
import pstats
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

__all__ = ["cprofile", "folded_summary"]


def cprofile(name: str, work: Callable[[], object], directory: Path, *, limit: int = 25) -> Path:
    """Run ``work`` under cProfile; write ``name.prof`` and ``name.txt`` (top functions by
    cumulative and by own time) into ``directory``; return the text file."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        work()
    finally:
        profiler.disable()
    directory.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(directory / f"{name}.prof")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"== {name}: by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(limit)
    out.write(f"== {name}: by own time\n")
    stats.sort_stats("tottime").print_stats(limit)
    path = directory / f"{name}.txt"
    path.write_text(out.getvalue())
    return path


_LINE = re.compile(r":\d+\)$")
# Leaf frames of threads that are only waiting for work (py-spy may still sample them).
_IDLE = ("Condition.wait (threading.py)", "EpollSelector.select (selectors.py)")


def _function(frame: str) -> str:
    return _LINE.sub(")", frame)


def _calls(frame: str, names: tuple[str, ...]) -> bool:
    """Whether ``frame`` is one of ``names`` or a function nested in one."""
    function = frame.split(" (")[0]
    return any(function == name or function.startswith(f"{name}.") for name in names)


def folded_summary(folded: Path, *, within: tuple[str, ...] = (), limit: int = 30) -> str:
    """Top functions of a py-spy ``--format raw`` file (``a;b;c COUNT`` per line), by own
    samples (the leaf) and by inclusive samples (anywhere on the stack, once per stack).
    Line numbers are dropped so a function's lines add up; idle threads are left out, and
    with ``within`` so are stacks that pass through none of those function names."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        if frames[-1] in _IDLE:
            idle += count
            continue
        if within and not any(_calls(frame, within) for frame in frames):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return "(no samples)\n"
    scope = f" in {', '.join(within)}" if within else ""
    lines = [f"{total} busy samples{scope} ({idle} idle samples left out)", "", "own samples:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(limit)]
    lines += ["", "inclusive samples:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(limit)]
    return "\n".join(lines) + "\n"
