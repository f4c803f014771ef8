"""What a log can identify: calibration on worlds the fitted model contains exactly.

    discountsim benchmark identification [--n-shoppers 10000] [--n-dogs 3000] [--horizon 52]
        [--holdout 0.3] [--replicates 4] [--n-eval 200000] [--seed 1] [--out benchmark-identification]

``benchmark calibration`` finds that fitted scenarios charge discounting less than the truth does.
This benchmark asks whether the fit or the log is to blame, on worlds without what the fitted model
leaves out (within-segment spread, intent shocks), so that the model contains the truth:

1. ``exact``: ``default`` with every trait's spread and the intent shock set to 0; a random log of
   ``--n-shoppers`` shoppers; fitted (segments by BIC); decision fidelity of no_discount, uniform
   5/10/20 % and rule_based on the fitted and the true scenario; and the log-likelihood under the
   truth minus that under the fitted model, on the fitted shoppers (if the truth is far better
   there, the search failed; if not, the log cannot tell them apart) and on the held-out ones.
2. ``exact_holdout``: the same with ``--holdout`` of the shoppers never offered (a control group).
3. ``sleeping_dogs``: ``--n-dogs`` shoppers all of ``default``'s sleeping_dog segment, exactly
   specified, one segment: offer churn's estimate and standard error against the truth.
4. ``sampling``: ``--replicates`` independent logs of the ``exact`` world, each fitted with the
   truth's number of segments from the truth's own values (the best case for any search: no
   choice of K, no missed optimum), and judged as in 1. The spread of the gaps over replicates is
   what the log's sampling error alone costs in decision fidelity: no estimator that reads only
   such a log can be expected to beat it. Beside it, the truth judged against itself on other
   shoppers: the share of that spread that is the evaluation's own sampling (``--n-eval``).

Writes ``fidelity.csv``, ``estimates.csv`` and ``sampling.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
from discountsim.agents import evaluate_lineup, make_policy
from discountsim.agents.storage import write_csv
from discountsim.experiments.config_rules import SEED_MAX, cli_int
from discountsim.simulators import generate_behaviour_log, load_scenario
from discountsim.simulators.behaviour_log import RandomGridLoggingPolicy
from discountsim.simulators.calibration import calibrate
from discountsim.simulators.calibration.calibrate import SHARD_SIZE
from discountsim.simulators.calibration.fit import Layout, fit_segments
from discountsim.simulators.calibration.panel import Panel, build_panel
from discountsim.simulators.calibration.parameters import (
    clip_to_schema,
    natural_from_scenario,
    scenario_from_natural,
)
from discountsim.simulators.calibration.source import PanelSource
from discountsim.simulators.config_schema import to_dict
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.scenarios import build_scenario
from discountsim.simulators.shop_log import to_shop_log, validate_shop_log
from numpy.typing import NDArray
from rich.console import Console


def exact_world(segments: list[str] | None = None) -> SimulatorParams:
    """``default`` without within-segment spread or intent shock (only ``segments`` if given, shares renormalised)."""
    data = copy.deepcopy(to_dict(load_scenario("default")))
    if segments:
        kept = {n: data["segments"][n] for n in segments}
        total = sum(s["share"] for s in kept.values())
        for s in kept.values():
            s["share"] = s["share"] / total
        data["segments"] = kept
    for segment in data["segments"].values():
        for name, value in segment.items():
            if isinstance(value, dict) and "sd" in value and name != "basket_value":
                value["sd"] = 0.0
    data["behaviour"]["intent_shock_sd"] = 0.0
    data["name"] = "exact_default" if not segments else f"exact_{'_'.join(segments)}"
    return build_scenario(**data)


class NeverOffered:
    """A logging policy with a control group: a seeded ``share`` of shoppers never offered (propensity 1)."""

    def __init__(self, inner: RandomGridLoggingPolicy, share: float, seed: int) -> None:
        self.inner, self.share, self.seed = inner, share, seed
        self.control: NDArray[np.bool_] | None = None

    def __call__(self, observations: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        discount, propensity = self.inner(observations)
        if self.control is None:  # rows are the same shoppers in the same order every period
            self.control = np.random.default_rng(self.seed).random(observations.shape[0]) < self.share
        return np.where(self.control, 0.0, discount), np.where(self.control, 1.0, propensity)


def _log(params: SimulatorParams, n: int, horizon: int, seed: int, holdout: float = 0.0) -> pd.DataFrame:
    logger = RandomGridLoggingPolicy(seed=seed)
    policy = NeverOffered(logger, holdout, seed) if holdout > 0 else logger
    return validate_shop_log(to_shop_log(generate_behaviour_log(params, policy, n, horizon, seed)))[0]


def fit_from_truth(frame: pd.DataFrame, truth: SimulatorParams, max_iter: int = 300) -> SimulatorParams:
    """The maximum-likelihood scenario nearest the truth: K = the truth's segments, started at its values."""
    source = PanelSource.from_base(build_panel(frame), truth, truth.seasonality.start_week, 0.2, 0, SHARD_SIZE)
    categories = source.panel.category_names
    start = natural_from_scenario(truth, categories)
    fit = fit_segments(len(truth.segments), start, start, source, None, max_iter)
    shares = source.summary.category_counts / max(source.summary.n_shoppers, 1)
    start_week = truth.seasonality.start_week
    scenario = scenario_from_natural(fit.natural, truth, categories, shares, "mle", start_week)
    clip_to_schema(scenario)  # a tiny log can push a value past what a scenario holds, as in calibrate
    return build_scenario(**scenario)


def sampling(truth: SimulatorParams, args: argparse.Namespace, console: Console) -> pd.DataFrame:
    """Decision fidelity of ``fit_from_truth`` over ``args.replicates`` independent logs: mean and sd per policy."""
    runs, noise = [], []
    for r in range(args.replicates):
        frame = _log(truth, args.n_shoppers, args.horizon, args.seed + 100 + r)
        runs.append(fidelity(truth, fit_from_truth(frame, truth), args.n_eval, args.horizon, args.seed + 1))
        # The truth against itself on other shoppers: what the evaluation's own sampling adds to a gap.
        noise.append(fidelity(truth, truth, args.n_eval, args.horizon, args.seed + 1, args.seed + 200 + r))
        console.log(f"sampling: replicate {r + 1}/{args.replicates} fitted and judged")

    def spread(frames: list[pd.DataFrame], what: str) -> pd.DataFrame:
        table = pd.concat(frames).groupby("policy", sort=False)[["profit_gap_pct", "incremental_gap"]]
        out = table.mean().add_suffix("_mean").join(table.std(ddof=1).add_suffix("_sd")).reset_index()
        return out.assign(what=what, replicates=args.replicates)

    return pd.concat(
        [spread(runs, "fit from the truth on an independent log"), spread(noise, "the truth on other shoppers")]
    )


def loglik_on(natural: dict[str, NDArray], params: SimulatorParams, panel: Panel) -> float:
    """Log-likelihood of every shopper of ``panel`` under ``natural``."""
    source = PanelSource.from_base(panel, params, params.seasonality.start_week, 0.0, 0, SHARD_SIZE)
    layout = Layout({k: int(np.atleast_1d(v).size) for k, v in natural.items()})
    return source.loglik(layout, layout.pack(natural))


def fidelity(
    truth: SimulatorParams,
    fitted: SimulatorParams,
    n_eval: int,
    horizon: int,
    seed: int,
    fitted_seed: int | None = None,
) -> pd.DataFrame:
    """Each policy's profit and incremental profit on ``fitted`` minus on ``truth``.

    Both are evaluated on ``n_eval`` shoppers over ``horizon`` weeks; ``fitted_seed`` defaults to ``seed``.
    """
    lineup = {"no_discount": make_policy("no_discount", scenario=truth)}
    for depth in (0.05, 0.1, 0.2):
        lineup[f"uniform_{round(depth * 100)}"] = make_policy("uniform", scenario=truth, depth=depth)
    lineup["rule_based"] = make_policy("rule_based", scenario=truth)
    on_true = evaluate_lineup(lineup, truth, n_eval, horizon, seed, oracle=False).summary.set_index("policy")
    fitted_seed = seed if fitted_seed is None else fitted_seed
    on_fit = evaluate_lineup(lineup, fitted, n_eval, horizon, fitted_seed, oracle=False).summary.set_index("policy")
    return pd.DataFrame(
        {
            "profit_true": on_true["profit"],
            "profit_gap_pct": 100 * (on_fit["profit"] - on_true["profit"]) / on_true["profit"].abs(),
            "incremental_true": on_true["incremental_profit"],
            "incremental_gap": on_fit["incremental_profit"] - on_true["incremental_profit"],
        }
    ).reset_index()


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-shoppers", type=cli_int(50), default=10_000, help="shoppers in the exact-world logs")
    parser.add_argument("--n-dogs", type=cli_int(50), default=3_000, help="shoppers in the sleeping-dog log")
    parser.add_argument("--horizon", type=cli_int(2), default=52)
    parser.add_argument("--holdout", type=float, default=0.3, help="share never offered in the exact_holdout log")
    parser.add_argument("--replicates", type=cli_int(2), default=4, help="independent logs in the sampling part")
    parser.add_argument("--n-eval", type=cli_int(2), default=200_000, help="shoppers in the decision-fidelity runs")
    parser.add_argument("--seed", type=cli_int(0, SEED_MAX), default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmark-identification"))
    args = parser.parse_args(argv)
    if not 0.0 < args.holdout < 1.0:
        parser.error(f"--holdout: {args.holdout}: expected a share in (0, 1)")
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console(width=160)
    quiet = {"progress": console.log}  # the fits' progress lines
    truth = exact_world()
    tables, estimates = [], []
    for tag, holdout in (("exact", 0.0), ("exact_holdout", args.holdout)):
        frame = _log(truth, args.n_shoppers, args.horizon, args.seed, holdout)
        cal = calibrate(frame, truth, max_segments=5, **quiet)
        table = fidelity(truth, cal.params, args.n_eval, args.horizon, args.seed + 1).assign(log=tag)
        console.print(table.round(2).to_string(index=False))
        tables.append(table)
        truth_natural = natural_from_scenario(truth, cal.panel.category_names)
        extra = sum(np.size(v) for v in truth_natural.values()) - sum(np.size(v) for v in cal.natural.values())
        for part, rows in (("fitted", cal.fit_index), ("held-out", cal.held_out_index)):
            panel = cal.panel.take(rows)
            estimates.append(
                {
                    "log": tag,
                    "what": f"log-likelihood of the {part} shoppers: truth ({len(truth.segments)} segments, "
                    f"{extra} more values) minus fit ({cal.chosen.n_segments} segments)",
                    "estimate": loglik_on(truth_natural, truth, panel) - loglik_on(cal.natural, truth, panel),
                    "se": math.nan,
                    "truth": math.nan,
                }
            )
        estimates.append(
            {
                "log": tag,
                "what": "largest offer churn over the fitted segments",
                "estimate": float(np.max(cal.natural["offer_churn"])),
                "se": math.nan,
                "truth": float(max(s.offer_churn for s in truth.segments.values())),
            }
        )
    dogs = exact_world(["sleeping_dog"])
    cal = calibrate(_log(dogs, args.n_dogs, args.horizon, args.seed), dogs, segments=1, **quiet)
    first = cal.fits[0]  # before any value was held at the base: its estimate and standard error
    estimates.append(
        {
            "log": "sleeping_dogs",
            "what": "offer churn of the one segment (first fit)",
            "estimate": float(first.natural["offer_churn"][0]),
            "se": float(first.se["offer_churn"][0]),
            "truth": float(dogs.segments["sleeping_dog"].offer_churn),
        }
    )
    estimates.append(
        {
            "log": "sleeping_dogs",
            "what": "offer churn reported not identified (held at the base)",
            "estimate": float(any(n == "offer_churn" for n, *_ in cal.not_identified)),
            "se": math.nan,
            "truth": math.nan,
        }
    )
    fidelity_table, estimate_table = pd.concat(tables), pd.DataFrame(estimates)
    console.print(estimate_table.to_string(index=False))
    sampling_table = sampling(truth, args, console)
    console.print(sampling_table.round(2).to_string(index=False))
    write_csv(args.out / "fidelity.csv", fidelity_table)
    write_csv(args.out / "estimates.csv", estimate_table)
    write_csv(args.out / "sampling.csv", sampling_table)
    console.print(f"written: {args.out}/fidelity.csv, estimates.csv, sampling.csv")
    return estimate_table


if __name__ == "__main__":
    main()
