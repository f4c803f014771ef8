"""Values no one segment identifies, estimated once for the segments that share them (``fit.Coordinates``)."""

from __future__ import annotations

import numpy as np
import pytest
from discountsim.simulators import load_scenario
from discountsim.simulators.calibration.calibrate import _poolable
from discountsim.simulators.calibration.fit import Coordinates, Layout, fit_segments, standard_errors
from discountsim.simulators.calibration.panel import build_panel
from discountsim.simulators.calibration.parameters import natural_from_scenario
from discountsim.simulators.calibration.source import PanelSource

from tests.simulators.test_calibration import _exact, _log_frame


def test_tied_entries_take_one_value_and_sum_their_gradients() -> None:
    free = np.array([True, False, True, True, True, True])
    coords = Coordinates.of(free, [[2, 4], [5, 3]])
    # free entries 0, 2, 3, 4, 5 -> values: 0 alone, {2, 4} one, {3, 5} one
    assert coords.group.tolist() == [0, 1, 2, 1, 2] and coords.n_values == 3
    theta = np.array([9.0, 7.0, 9.0, 9.0, 9.0, 9.0])
    np.testing.assert_array_equal(coords.expand(theta, np.array([1.0, 2.0, 3.0])), [1.0, 7.0, 2.0, 3.0, 2.0, 3.0])
    np.testing.assert_array_equal(coords.reduce(np.array([1.0, 7.0, 2.0, 3.0, 4.0, 5.0])), [1.0, 3.0, 4.0])
    gradient = coords.reduce_gradient(np.array([1.0, 10.0, 100.0, 1000.0, 10000.0]))
    np.testing.assert_array_equal(gradient, [1, 1010, 10100])
    assert Coordinates.of(free).n_values == 5
    with pytest.raises(ValueError, match="must all be free"):
        Coordinates.of(free, [[1, 2]])


def test_only_per_segment_values_weak_in_two_or_more_segments_are_pooled() -> None:
    weak = [("offer_churn", 0), ("offer_churn", 2), ("forward_buying", 1), ("stock_consumption", 0)]
    assert _poolable(weak) == {"offer_churn": [0, 2]}


def test_a_pooled_fit_holds_one_value_counts_it_once_and_gives_it_one_error() -> None:
    params = load_scenario(_exact(churn=True, segments=["deal_seeker", "sleeping_dog"]))
    frame = _log_frame(params, 400, 12, offers=True)
    source = PanelSource.from_base(build_panel(frame), params, params.seasonality.start_week, 0.2, 0, 4000)
    start = natural_from_scenario(params, source.panel.category_names)
    free_fit = fit_segments(2, start, start, source, None, 40)
    pooled_fit = fit_segments(2, start, start, source, None, 40, pooled={"offer_churn": [0, 1]})
    churn = pooled_fit.natural["offer_churn"]
    assert churn[0] == pytest.approx(churn[1], rel=1e-12) and churn[0] > 0  # started at the truth's 0 and 2.0
    assert pooled_fit.n_free == free_fit.n_free - 1
    layout = Layout({n: int(np.atleast_1d(v).size) for n, v in pooled_fit.natural.items()})
    # The shared value's gradient is the derivative of the log-likelihood along both entries at once.
    coords, theta = pooled_fit.coords, pooled_fit.theta
    shared = int(coords.group[np.flatnonzero(coords.free) == layout.slices["offer_churn"].start][0])
    gradient = coords.reduce_gradient(source.loglik_and_grad(layout, theta, coords.free)[1])[shared]
    step = np.zeros_like(theta)
    step[layout.slices["offer_churn"]] = 1e-5
    numeric = (source.loglik(layout, theta + step) - source.loglik(layout, theta - step)) / 2e-5
    assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-4)
    se = standard_errors(layout, pooled_fit.theta, pooled_fit.coords, source)["offer_churn"]
    assert se[0] == pytest.approx(se[1], rel=1e-9) and np.isfinite(se[0]) and se[0] > 0
