"""Peak-memory measurement: what the calibrate job and the calibration benchmark report."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from discountsim.simulators.memory import peak_memory_gb, reset_peak_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a resettable peak needs Linux' clear_refs")
def test_the_peak_follows_an_allocation_and_a_reset_starts_a_new_one() -> None:
    # Start from a fresh peak: after earlier tests the lifetime peak may exceed what the block adds.
    assert reset_peak_memory()
    before = peak_memory_gb()
    block = np.ones(400 * 2**20 // 8)  # 400 MiB, touched
    grown = peak_memory_gb()
    assert grown >= before + 0.3
    del block
    assert reset_peak_memory()
    assert peak_memory_gb() < grown - 0.3  # the freed block no longer counts
