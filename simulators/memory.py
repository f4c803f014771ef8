"""Up-front memory estimate of a simulation, checked against the memory this machine has available.

A population of shoppers is held in NumPy arrays whose size grows linearly with the number of
shoppers (keys, traits, state, one period's outcome and observations, the per-shopper totals of
every result kept). A size that cannot fit must fail in well under a second, before anything is
allocated, instead of swapping the machine for minutes and being killed. The per-shopper figures
below were measured with ``tracemalloc`` (peak of NumPy allocations, slope between 20 000 and
80 000 shoppers; they do not depend on the horizon) on the default scenario:

- one rollout (keys, traits, state, outcome, observations, totals): 1 077 bytes per shopper
  (``evaluate_lineup`` with one policy); simulate's table, which holds two rollouts: 1 225;
- each further result kept (``RolloutTotals``: 9 float64 totals, flags, the first observation): 150;
- a behaviour log for the supervised model: 490-550 bytes per shopper-period (row);
- the oracle's plan: 21 400 bytes per shopper at a horizon of 2, 59 900 at 8: 8 600 + 6 400 per period.

The estimate rounds these up (1 100 + 160 per result kept; 700 per log row, as torch's copies are
not traced; 9 000 + 6 500 per period for the oracle) so that it errs on the side of refusing a size that would not fit.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from pathlib import Path

from discountsim.simulators.errors import DiscountSimInputError

BYTES_PER_SHOPPER = 1_100
"""Working set of one rollout per shopper (bytes)."""
BYTES_PER_RESULT = 160
"""Per shopper, each rollout's totals kept for the tables (bytes)."""
BYTES_PER_LOG_ROW = 700
"""Per shopper-period of a behaviour log with its training tensors (bytes)."""
BYTES_PER_ORACLE_SHOPPER = 9_000
BYTES_PER_ORACLE_PERIOD = 6_500
"""The dynamic-programming oracle's plan: per shopper, plus per shopper and period of the horizon (bytes)."""
_CHECK_ABOVE = 256 * 2**20
"""Estimates below this are not checked (reading the available memory costs a file read)."""


def peak_memory_gb() -> float:
    """This process's peak resident memory (GB) since it started or since ``reset_peak_memory``.

    Linux: ``VmHWM`` of ``/proc/self/status`` (resettable); elsewhere ``getrusage``'s lifetime peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2  # KiB
    except (OSError, ValueError, IndexError):
        pass
    scale = 1024**3 if sys.platform == "darwin" else 1024**2  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def reset_peak_memory() -> bool:
    """Start a new peak for ``peak_memory_gb`` (Linux: writes 5 to ``/proc/self/clear_refs``); False where it cannot.

    A benchmark that fits one log after another measures each fit's own peak, not the largest so far.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class MemoryEstimateError(DiscountSimInputError):
    """A requested size would not fit in the available memory; the message says how to go smaller."""


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping, or None where it cannot be told.

    Linux: ``MemAvailable`` of ``/proc/meminfo``, capped by a cgroup (container) memory limit minus
    its current use; elsewhere: free physical pages (``os.sysconf``), if the platform reports them.
    """
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v2: the container's limit
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return min(found)


def estimate_bytes(n_shoppers: int, results: int = 1, log_periods: int = 0, oracle_horizon: int = 0) -> int:
    """Estimated peak bytes of simulating ``n_shoppers`` keeping ``results`` rollouts' totals.

    Args:
        n_shoppers: Shoppers simulated at once.
        results: Rollouts whose per-shopper totals are kept together (e.g. policies + no-discount baseline).
        log_periods: Periods of a behaviour log per shopper (supervised fitting), 0 for none.
        oracle_horizon: Horizon the oracle plans for, 0 if it does not run.
    """
    per_shopper = BYTES_PER_SHOPPER + BYTES_PER_RESULT * max(results, 1) + BYTES_PER_LOG_ROW * max(log_periods, 0)
    if oracle_horizon > 0:
        per_shopper += BYTES_PER_ORACLE_SHOPPER + BYTES_PER_ORACLE_PERIOD * oracle_horizon
    return int(n_shoppers) * per_shopper


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (``7.45 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(name: str, n_shoppers: int, results: int = 1, log_periods: int = 0, oracle_horizon: int = 0) -> None:
    """Raise ``MemoryEstimateError`` if ``n_shoppers`` (the value of setting ``name``) would not fit in memory.

    The message names the setting, the estimate, the available memory and the largest size that fits.
    Does nothing for small sizes or where the available memory cannot be told.
    """
    estimate = estimate_bytes(n_shoppers, results, log_periods, oracle_horizon)
    if estimate < _CHECK_ABOVE:
        return
    available = available_memory()
    if available is None or estimate <= available:
        return
    per_shopper = estimate / n_shoppers
    fits = max(math.floor(available / per_shopper), 0)
    raise MemoryEstimateError(
        f"{name}={n_shoppers:,}: needs about {format_bytes(estimate)} ({per_shopper:,.0f} bytes per shopper), "
        f"but only {format_bytes(available)} of memory is available: lower {name} to at most {fits:,}"
    )
