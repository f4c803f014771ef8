"""``discountsim benchmark constraints`` at a tiny size: every constraint reported, the cap always held."""

from __future__ import annotations

import pandas as pd
import pytest
from discountsim.experiments import constraints_benchmark


def test_constraints_benchmark_reports_each_constraint(tmp_path, capsys) -> None:
    args = ["--timesteps", "8192", "--n-eval", "120", "--horizon", "6", "--out", str(tmp_path)]
    table = constraints_benchmark.main(args).set_index("policy")
    assert list(table.index) == ["no_discount", "rule_based", "supervised", "ppo", "ppo_lagrangian", "oracle"]
    assert (table["contact_cap_held"] == 1.0).all() and (table["capped_max_offers_in_window"] <= 2).all()
    assert table.loc["rule_based", "max_offers_in_window"] == 4.0  # weekly offers: the cap binds
    assert table.loc["rule_based", "cap_cost"] == pytest.approx(
        table.loc["rule_based", "incremental_profit"] - table.loc["rule_based", "capped_incremental_profit"]
    )
    assert table.loc["no_discount", "spend_per_shopper_week"] == 0.0
    assert {"offer_disparity_region", "offer_disparity_age_band"} <= set(table.columns)
    saved = pd.read_csv(tmp_path / "constraints.csv")
    assert len(saved) == 6
    groups = pd.read_csv(tmp_path / "groups.csv")
    assert set(groups["attribute"]) == {"region", "age_band"}
    assert set(groups["constraint"]) == {"none", "contact_cap", "disparity_floor"}
    assert (table["disparity_floor_held"] == 1.0).all()
    assert (table[["floored_offer_disparity_region", "floored_offer_disparity_age_band"]] >= 0.8).all().all()
    assert table.loc["oracle", "floor_cost"] == pytest.approx(
        table.loc["oracle", "incremental_profit"] - table.loc["oracle", "floored_incremental_profit"]
    )
    assert "ppo_lagrangian: spend" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--budget-share", "1.5"], ["--floor", "1.2"], ["--floor", "0"]])
def test_a_share_or_floor_outside_its_range_is_refused(bad) -> None:
    with pytest.raises(SystemExit):
        constraints_benchmark.main(bad)
