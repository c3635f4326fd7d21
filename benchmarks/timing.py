"""The one timing helper the benchmarks share."""

import time


def timings(fn, repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls of `fn`; callers report the best (and the median)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
