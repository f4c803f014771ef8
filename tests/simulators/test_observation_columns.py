"""Every observation column is written by its feature name."""

from __future__ import annotations

import numpy as np
from discountsim.simulators import feature_index, feature_names, initial_state, load_scenario, observe, spawn_keys
from discountsim.simulators.observation import BASE_FEATURES
from discountsim.simulators.transition import recent_offers


def test_each_column_holds_the_feature_it_is_named_after() -> None:
    params = load_scenario("default")
    state = initial_state(params, spawn_keys(np.random.default_rng(5), 7))
    rng = np.random.default_rng(0)
    # Distinct values in every field, so that a column written from the wrong field shows.
    for name in ("recency", "frequency", "monetary", "browse", "reviews", "tenure"):
        setattr(state, name, rng.uniform(0.0, 5.0, 7))
    for name in ("cart", "purchased_last"):
        setattr(state, name, (rng.uniform(size=7) < 0.5).astype(np.float64))
    state.last_discount = rng.uniform(0.0, 0.5, 7)
    state.avg_discount = rng.uniform(0.0, 0.5, 7)
    state.offer_history = rng.integers(0, 256, 7).astype(np.uint8)
    state.t = rng.integers(0, 104, 7)
    obs = observe(params, state)

    def column(name: str) -> np.ndarray:
        return obs[:, feature_index(params, name)]

    week = (params.seasonality.start_week + state.t) % 52
    expected = {
        "recency": np.log1p(state.recency) / np.log(53.0),
        "frequency": state.frequency,
        "monetary": np.log1p(state.monetary) / np.log(1000.0),
        "browse": np.log1p(state.browse) / np.log(11.0),
        "cart": state.cart,
        "reviews": np.log1p(state.reviews) / np.log(11.0),
        "last_discount": state.last_discount,
        "avg_discount": state.avg_discount,
        "recent_offers": recent_offers(state) / 4.0,
        "tenure": state.tenure / 52.0,
        "purchased_last": state.purchased_last,
        "week_sin": np.sin(2 * np.pi * week / 52),
        "week_cos": np.cos(2 * np.pi * week / 52),
    }
    assert set(expected) | {"holiday"} == {f[0] for f in BASE_FEATURES}
    for name, values in expected.items():
        np.testing.assert_allclose(column(name), values.astype(np.float32), rtol=1e-6, atol=1e-7, err_msg=name)
    categories = obs[:, len(BASE_FEATURES) :]
    assert categories.shape[1] == len(params.catalogue) and np.all(categories.sum(axis=1) == 1.0)
    assert np.all(np.argmax(categories, axis=1) == state.traits.category)
    assert len(feature_names(params)) == obs.shape[1]
