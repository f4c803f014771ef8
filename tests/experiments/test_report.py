"""The comparison report: one colour per policy in every plot, labels that do not overprint, learning
curves without repeated points, and a report.md whose links all resolve."""

from __future__ import annotations

import itertools
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from discountsim.agents import evaluate_lineup, make_model, make_policy
from discountsim.agents.callbacks import ShopMetricsCallback
from discountsim.experiments import report
from discountsim.experiments.plot_style import FIXED_COLOURS, place_labels, policy_colours
from discountsim.experiments.report import plot_incremental_vs_cost, plot_profit_vs_depth, write_report
from discountsim.experiments.simulate import fixed_discount_table
from discountsim.experiments.tables import leaderboard, to_markdown
from discountsim.simulators import load_scenario
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text


@pytest.fixture(scope="module")
def params():
    return load_scenario("default")


@pytest.fixture(scope="module")
def lineup(params):
    """A line-up with the usual labels; the agents are stand-ins (uniform policies), so nothing trains."""
    policies = {
        "no_discount": make_policy("no_discount", scenario=params),
        "uniform_10": make_policy("uniform", depth=0.1, scenario=params),
        "rule_based": make_policy("rule_based", scenario=params),
        "supervised": make_policy("no_discount", scenario=params),  # lands exactly on no_discount
        "ppo": make_policy("uniform", depth=0.05, scenario=params),
        "a2c": make_policy("uniform", depth=0.2, scenario=params),
        "my_policy": make_policy("uniform", depth=0.3, scenario=params),
        "myopic_oracle": make_policy("myopic_oracle"),
        "oracle": make_policy("oracle"),
    }
    return evaluate_lineup(policies, params, n_shoppers=30, horizon=4, seed=1)


@pytest.fixture(scope="module")
def uniform(params):
    return fixed_discount_table(params, [0.0, 0.1, 0.2], 30, 4, 1)


CURVES = pd.DataFrame(
    {
        "timesteps": [8192.0, 16384.0, 24576.0, 4096.0, 8192.0],
        "profit": [10.0, 50.0, 60.0, 20.0, 40.0],
        "policy": ["ppo", "ppo", "ppo", "a2c", "a2c"],
        "n_shoppers": 500,
        "horizon": 52,
    }
)


def colours_drawn(fig: plt.Figure) -> dict[str, set[str]]:
    """Policy -> the colours of every artist drawn for it (tagged ``gid="policy:<label>"``)."""
    found: dict[str, set[str]] = {}
    for artist in fig.findobj(lambda a: (a.get_gid() or "").startswith("policy:")):
        policy = artist.get_gid().removeprefix("policy:")
        if isinstance(artist, Collection):  # scatter markers, error bars
            rgba = artist.get_facecolor() if len(artist.get_facecolor()) else artist.get_edgecolor()
            colours = {to_hex(c) for c in rgba}
        elif isinstance(artist, Line2D):
            colours = {to_hex(artist.get_color()), to_hex(artist.get_markerfacecolor())}
        else:
            assert isinstance(artist, Patch), artist
            colours = {to_hex(artist.get_facecolor())}
        found.setdefault(policy, set()).update(colours)
    return found


def test_each_policy_has_one_colour_in_every_plot(tmp_path, monkeypatch, params, lineup, uniform) -> None:
    drawn: dict[str, dict[str, set[str]]] = {}
    save = report._save

    def inspect_then_save(fig, path):
        drawn[path.name] = colours_drawn(fig)
        return save(fig, path)

    monkeypatch.setattr(report, "_save", inspect_then_save)
    write_report(tmp_path, params, lineup, uniform, CURVES)
    assert set(drawn) == {
        "learning_curves.png",
        "profit_vs_depth.png",
        "discount_by_segment.png",
        "cumulative_profit.png",
        "incremental_vs_cost.png",
    }
    expected = policy_colours(lineup.summary["policy"])
    for plot, by_policy in drawn.items():
        for policy, colours in by_policy.items():
            assert colours == {expected[policy]}, f"{plot}: {policy} drawn in {colours}, not {expected[policy]}"
    for policy in expected:  # every policy is in every plot but the learning curves (agents only)
        assert sum(policy in by_policy for by_policy in drawn.values()) >= 4, policy
    assert set(drawn["learning_curves.png"]) == {"ppo", "a2c"}
    assert len(set(expected.values())) == len(expected), "two policies share a colour"


def test_colours_are_fixed_for_known_policies_whatever_the_lineup() -> None:
    one = policy_colours(["no_discount", "uniform_10", "ppo", "mine", "oracle"])
    other = policy_colours(["oracle", "theirs", "a2c", "ppo", "uniform_25", "no_discount"])
    for label in ("no_discount", "ppo", "oracle"):
        assert one[label] == other[label] == FIXED_COLOURS[label]
    assert one["uniform_10"] == other["uniform_25"] == FIXED_COLOURS["uniform"]
    assert one["mine"] not in FIXED_COLOURS.values() and one["mine"] == other["theirs"]
    assert policy_colours(["a", "b", "c"]) == policy_colours(["a", "b", "c"])  # the same in every run
    two_uniforms = policy_colours(["uniform_10", "uniform_20"])
    assert two_uniforms["uniform_10"] != two_uniforms["uniform_20"]


def crowded_summary() -> pd.DataFrame:
    """Policies a few pixels apart (closer than a label is tall), two exactly on top of each other."""
    names = ["no_discount", "supervised", "ppo", "a2c", "dqn", "uniform_10", "rule_based", "my_policy", "oracle"]
    x = np.array([0.0, 0.0, 0.001, 0.002, 0.0, 0.1, 0.101, 0.1, 0.2])
    y = np.array([80.0, 80.0, 80.6, 81.2, 81.8, 60.0, 60.6, 61.2, 40.0])  # 0.6 of 40: about 5 px apart
    return pd.DataFrame(
        {
            "policy": names,
            "avg_discount": x,
            "profit": y,
            "promotion_cost": x * 100,
            "incremental_profit": y - 80.0,
            "incremental_profit_ci_low": y - 83.0,
            "incremental_profit_ci_high": y - 77.0,
        }
    )


@pytest.mark.parametrize("plot", ["profit_vs_depth", "incremental_vs_cost"])
def test_labels_do_not_overlap_when_points_crowd(plot) -> None:
    summary = crowded_summary()
    colours = policy_colours(summary["policy"])
    if plot == "profit_vs_depth":
        uniform = pd.DataFrame({"discount": [0.0, 0.1, 0.2], "profit": [80.0, 60.0, 40.0]})
        fig = plot_profit_vs_depth(summary, uniform, colours, "EUR", 52)
    else:
        fig = plot_incremental_vs_cost(summary, colours, "EUR", 52)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("label:")]
    named = [name for t in labels for name in t.get_text().split(", ")]
    assert sorted(named) == sorted(summary["policy"]), "every policy labelled exactly once"
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the text alone, without the leader line
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), f"labels overlap: {a} and {b}"
    x, y = ("avg_discount", "profit") if plot == "profit_vs_depth" else ("promotion_cost", "incremental_profit")
    centres = ax.transData.transform(summary[[x, y]].to_numpy())
    for box, (cx, cy) in itertools.product(boxes, centres):
        assert not box.contains(cx, cy), "a label covers a point"
    plt.close(fig)


def test_place_labels_is_deterministic() -> None:
    def boxes() -> list[tuple[float, ...]]:
        fig, ax = plt.subplots(dpi=report.DPI)
        points = [(f"policy_{i}", 0.0, i * 1e-3) for i in range(6)] + [("far", 1.0, 1.0)]
        ax.scatter([p[1] for p in points], [p[2] for p in points])
        fig.canvas.draw()
        texts = place_labels(ax, points)
        out = [tuple(Text.get_window_extent(t, fig.canvas.get_renderer()).extents) for t in texts]
        plt.close(fig)
        return out

    assert boxes() == boxes()


def test_learning_curve_points_are_distinct_models_at_increasing_timesteps() -> None:
    # 4 envs x 8 steps = 32 transitions per update; evaluations due every 12 timesteps. Evaluating inside
    # a rollout recorded the same model at 12, 24 and 36 (no update in between): the doubled points.
    model = make_model("ppo", hyperparams={"n_steps": 8, "batch_size": 32, "n_epochs": 1}, env={"n_envs": 4}, horizon=4)
    callback = ShopMetricsCallback("default", eval_every=12, n_shoppers=10, horizon=4)
    model.learn(100, callback=callback)
    steps = [h["timesteps"] for h in callback.history]
    assert steps == [32.0, 64.0, 96.0, 128.0] and model.num_timesteps == 128
    assert all(b > a for a, b in itertools.pairwise(steps))


def test_report_links_only_files_that_exist(tmp_path, params, lineup, uniform) -> None:
    for curves, expected in ((CURVES, 5), (pd.DataFrame(), 4)):
        out = tmp_path / str(expected)
        out.mkdir()
        text = write_report(out, params, lineup, uniform, curves).read_text()
        links = re.findall(r"\]\(([^)]+)\)", text)
        assert len(links) == expected
        assert all((out / link).is_file() for link in links), links
        assert sorted(p.name for p in out.glob("*.png")) == sorted(links)  # no plot left out, no stray file


def test_leaderboard_shows_every_interval_the_same_way(lineup) -> None:
    board = leaderboard(lineup.summary)
    assert list(board["policy"]) == list(lineup.summary.sort_values("profit", ascending=False)["policy"])
    row = lineup.summary.set_index("policy").loc["oracle"]
    shown = board.set_index("policy").loc["oracle"]
    half = (row["profit_ci_high"] - row["profit_ci_low"]) / 2
    assert shown["profit"] == f"{row['profit']:.2f} ± {half:.2f}"
    for column in ("incremental vs no discount", "ROI"):
        assert re.fullmatch(r"[+-]\d+\.\d\d ± \d+\.\d\d", shown[column]), shown[column]
    assert shown["uplift captured"] == "100.0% ± 0.0%"  # the oracle captures all of its own gain
    # The share is of the oracle's incremental profit: giving nothing captures none of it.
    assert board.set_index("policy").loc["no_discount", "uplift captured"] == "0.0% ± 0.0%"
    assert board.set_index("policy").loc["no_discount", "ROI"] == "-"  # no promotion cost: undefined
    assert all(re.fullmatch(r"\d+\.\d%", v) for v in board[["avg discount", "offered", "retention"]].to_numpy().ravel())
    assert "half-width of its 95 % interval" in to_markdown(lineup.summary)
