"""Planning with the true model: each shopper's expected profit, and a dynamic programme over its state.

This is what an oracle that knows every shopper's latent traits and the equations of ``dynamics``
can do. It backs the ``oracle`` and ``myopic_oracle`` policies (``agents/oracle.py``); it lives
here because only ``simulators`` knows how shoppers behave.

The dynamic programme (finite horizon, backward induction, per shopper, batched with NumPy) runs
over the shopper's own state x = (reference discount r, fatigue f, stock s, recency k) on a grid,
with multilinear interpolation between nodes:

    V_H(x) = 0
    V_t(x) = max_d  pbar_t(x, d) V_i (1 + phi_i d)(m_i - e_i(d)) - c_offer 1[d > 0] + F_i
                    + pbar (1 - q_buy) V_{t+1}(r', f', s'_buy, 0)
                    + (1 - pbar)(1 - q_none) V_{t+1}(r', f', s'_none, k + 1)

with e_i(d) the discount off list the shopper pays (d, or for a member with member price cut c_i,
c_i + (1 - c_i) d; ``dynamics.effective_discount``), which also drives pbar and the reference,
F_i the membership fee (0 for non-members), r' = w r + (1 - w) e_i(d), f' = decay f + 1[d > 0],
s'_buy = max(s - c, 0) + phi d, s'_none = max(s - c, 0) and q the churn hazard after a purchase
(recency 0) or without one (recency k + 1). pbar is the purchase probability averaged over the intent shock's stationary
distribution N(0, sd^2) by Gauss-Hermite quadrature.

What the equations cover: purchase response with reference gains and losses, fatigue,
stockpiling, churn through recency, fatigue and offers, seasonality and holidays, the current
intent shock (known at decision time). What they approximate: future intent shocks are drawn from
the stationary distribution (persistence rho ignored after the current period), and
satisfaction, which lowers the churn hazard, is held at its value when the plan is made.

What the grid approximates: the value between nodes is interpolated linearly. When the reference
discount is the plan's only state (fatigue, stockpiling and churn off) the programme is cheap, so
the planner resolves it: it plans over the decision levels themselves, and the reference nodes
are those levels subdivided ``reference_refine`` times, so every kink of the purchase
probability at d = r (gain/loss asymmetry) lies on a node and the value between nodes is smooth.
With more state axes the grid stays coarse (time and memory grow with the product of the node
counts) and the plan is a strong reference, not a proven upper bound. ``coverage`` says which
case a scenario is in, naming every approximation. Budgets are not planned for.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from discountsim.simulators import dynamics
from discountsim.simulators.config_schema import check_count
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.state import ShopperState
from numpy.typing import NDArray

Array = NDArray[np.float64]
_AXES = ("reference", "fatigue", "stock", "recency")


@dataclass(frozen=True)
class PlanningGrid:
    """Discretisation of the dynamic programme.

    Attributes:
        reference_nodes: Number of equally spaced reference-discount nodes on [0, top], with top
            the larger of d_max and the deepest reference discount of the planned shoppers.
        fatigue_nodes: Number of equally spaced fatigue nodes on [0, 1 / (1 - fatigue_decay)],
            the most fatigue an offer every period can build.
        stock_nodes: Stock nodes in baskets (values above the last are treated as the last).
        recency_nodes: Recency nodes in weeks since the last purchase (capped at the last).
        levels: Discount levels in the programme's maximisation, equally spaced on [0, d_max].
        decision_levels: Discount levels compared when acting on a shopper's exact state.
        shock_nodes: Gauss-Hermite nodes for averaging over the intent shock.
        reference_refine: When the reference discount is the plan's only state: the programme
            plans over the decision levels, with reference nodes on every level and
            ``reference_refine - 1`` more between neighbours, and enough shock nodes for the
            average over the intent shock to be accurate (see ``shock_quadrature``).
    """

    reference_nodes: int = 8
    fatigue_nodes: int = 5
    stock_nodes: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    recency_nodes: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 7.0, 12.0, 20.0, 52.0)
    levels: int = 11
    decision_levels: int = 21
    shock_nodes: int = 5
    # 4 left the planned profit 2.1e-4 below the fine programme's for gain-seeking shoppers with a slowly
    # moving reference (gain 4, loss 0, memory 0.75, d_max 0.3: between nodes the value is curved); 8: 3e-5.
    reference_refine: int = 8

    def __post_init__(self) -> None:
        for name in ("reference_nodes", "fatigue_nodes", "levels", "decision_levels", "shock_nodes"):
            _check_int(name, getattr(self, name), 2)
        _check_int("reference_refine", self.reference_refine, 1)
        for name in ("stock_nodes", "recency_nodes"):
            nodes = np.asarray(getattr(self, name), dtype=np.float64)
            ok = nodes.ndim == 1 and nodes.size >= 2 and bool(np.all(np.isfinite(nodes)))
            if not ok or nodes[0] != 0.0 or np.any(np.diff(nodes) <= 0.0):
                raise ValueError(f"{name}: expected at least two increasing values starting at 0, got {nodes.tolist()}")

    def resolves(self, params: SimulatorParams) -> bool:
        """True when the reference discount is the plan's only state, which the planner resolves."""
        on = params.dynamics
        return on.reference_effects and not (on.fatigue or on.stockpiling or on.churn)

    def plan_levels(self, params: SimulatorParams) -> Array:
        """Discount levels the programme maximises over: the decision levels where it resolves the plan."""
        count = self.decision_levels if self.resolves(params) else self.levels
        return np.linspace(0.0, params.d_max, count)

    def nodes(self, params: SimulatorParams, top: float | None = None) -> dict[str, Array]:
        """Node values per state axis; an axis collapses to one node where its dynamics are off.

        Args:
            top: Deepest reference discount to cover (default d_max); values above d_max arise
                only from a scenario's initial reference.
        """
        on = params.dynamics
        fatigue_max = 1.0 / max(1.0 - params.behaviour.fatigue_decay, 1e-9)
        top = max(params.d_max, params.d_max if top is None else float(top))
        if not on.reference_effects:
            reference = _ZERO
        elif self.resolves(params):
            # Every level is a node, refined; above d_max (reached only from a deep initial reference,
            # and smooth there: no kinks) as fine a spacing, with at most ``MAX_NODES_ABOVE`` nodes.
            fine = (self.decision_levels - 1) * self.reference_refine
            reference = np.linspace(0.0, params.d_max, fine + 1)
            above = self.nodes_above(params, top)
            if above:
                reference = np.concatenate([reference, np.linspace(params.d_max, top, above + 1)[1:]])
        else:
            reference = np.linspace(0.0, top, self.reference_nodes)
        return {
            "reference": reference,
            "fatigue": np.linspace(0.0, min(fatigue_max, 52.0), self.fatigue_nodes) if on.fatigue else _ZERO,
            "stock": np.asarray(self.stock_nodes, dtype=np.float64) if on.stockpiling else _ZERO,
            "recency": np.asarray(self.recency_nodes, dtype=np.float64) if on.churn else _ZERO,
        }

    def nodes_above(self, params: SimulatorParams, top: float) -> int:
        """Resolved reference nodes above d_max up to ``top``: the fine spacing, capped at ``MAX_NODES_ABOVE``."""
        if top <= params.d_max:
            return 0
        spacing = params.d_max / ((self.decision_levels - 1) * self.reference_refine)
        return min(int(np.ceil((top - params.d_max) / spacing - 1e-9)), MAX_NODES_ABOVE)

    def shock_quadrature(self, params: SimulatorParams) -> tuple[Array, Array]:
        """Gauss-Hermite shocks (logit) and their probability weights for the stationary intent shock.

        Where the plan is resolved, as many nodes as keep the averaged purchase probability within
        ``SHOCK_TOLERANCE`` (relative) of a 128-node average, up to ``MAX_SHOCK_NODES``.
        """
        sd = params.behaviour.intent_shock_sd
        count = _shock_nodes(sd) if self.resolves(params) else self.shock_nodes
        z, w = np.polynomial.hermite_e.hermegauss(count) if sd > 0.0 else (np.zeros(1), np.ones(1))
        return sd * z, w / w.sum()


SHOCK_TOLERANCE = 1e-6
MAX_NODES_ABOVE = 160
MAX_SHOCK_NODES = 64


@lru_cache(maxsize=64)
def _shock_error(sd: float, count: int) -> float:
    """Largest relative error of a ``count``-node average of sigmoid(x + sd z) over x in [-12, 6]."""
    x = np.linspace(-12.0, 6.0, 181)[:, None]

    def average(n: int) -> Array:
        z, w = np.polynomial.hermite_e.hermegauss(n)
        return dynamics.sigmoid(x + sd * z) @ (w / w.sum())

    exact = average(128)
    return float(np.max(np.abs(average(count) - exact) / exact))


def _shock_nodes(sd: float) -> int:
    """Fewest Gauss-Hermite nodes (of a few candidates) that average within ``SHOCK_TOLERANCE``."""
    if sd == 0.0:
        return 1
    for count in (5, 8, 12, 16, 24, 32, 48):
        if _shock_error(sd, count) <= SHOCK_TOLERANCE:
            return count
    return MAX_SHOCK_NODES


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


_ZERO = np.zeros(1)


@dataclass(frozen=True)
class Coverage:
    """Whether the planned policy is optimal for a scenario, and every reason why not if not.

    ``exact`` means: optimal among the decision levels, up to a numerical tolerance that the tests
    measure against an independent fine-grid programme (within 0.01 % of expected profit), or
    the scenario has no inter-period dynamics (the myopic optimum is then the optimum). Budgets
    are never planned for: with a budget, no plan is exact.
    """

    exact: bool
    gaps: tuple[str, ...] = field(default=())


def coverage(
    params: SimulatorParams, grid: PlanningGrid | None = None, budget_per_period: float | None = None
) -> Coverage:
    """Which of the scenario's dynamics the programme approximates, and where its grid does.

    Args:
        params: The scenario.
        grid: The oracle's discretisation (default: ``PlanningGrid()``, the oracle's default).
        budget_per_period: The promotion budget per period the oracle is evaluated under, if any: never planned for.
    """
    grid = grid or PlanningGrid()
    on = params.dynamics
    gaps = []
    if budget_per_period is not None:
        gaps.append(f"the budget of {budget_per_period:g} per period (offers are planned as if unlimited)")
    if not (on.reference_effects or on.fatigue or on.stockpiling or on.churn):
        # Today's discount changes nothing later: the myopic optimum is optimal.
        return Coverage(not gaps, tuple(gaps))
    behaviour = params.behaviour
    if behaviour.intent_shock_sd > 0.0 and behaviour.intent_shock_persistence > 0.0:
        gaps.append("intent-shock persistence (future shocks planned as independent)")
    if on.churn and behaviour.satisfaction_churn > 0.0:
        gaps.append("satisfaction's effect on churn (held at its value when planning)")
    sd = behaviour.intent_shock_sd
    count = grid.shock_quadrature(params)[0].size
    if sd > 0.0 and _shock_error(sd, count) > SHOCK_TOLERANCE:
        error = _shock_error(sd, count)
        gaps.append(f"the average over the intent shock (sd {sd:g}: {count} quadrature nodes, error up to {error:.1e})")
    top = max(s.initial_reference for s in params.segments.values())
    spacing = params.d_max / ((grid.decision_levels - 1) * grid.reference_refine)
    if grid.resolves(params) and (top - params.d_max) / spacing > MAX_NODES_ABOVE:
        gaps.append(
            f"the value at reference discounts above d_max = {params.d_max:g} (initial reference up to {top:g}; "
            f"interpolated on {MAX_NODES_ABOVE} nodes)"
        )
    if grid.resolves(params) and params.has_members:
        gaps.append("member prices (the kink of the gain/loss terms at d = r falls between reference nodes)")
    if not grid.resolves(params):
        nodes = grid.nodes(params)
        axes = ", ".join(f"{a} ({nodes[a].size} nodes)" for a in _AXES if nodes[a].size > 1)
        gaps.append(f"the value between grid nodes (linear interpolation over {axes})")
        if grid.levels != grid.decision_levels:
            gaps.append(f"later discounts (planned over {grid.levels} levels, chosen from {grid.decision_levels})")
    return Coverage(not gaps, tuple(gaps))


def _bracket(nodes: Array, values: NDArray) -> tuple[NDArray[np.intp], NDArray[np.intp], Array]:
    """Lower and upper node index and the weight of the upper node, for linear interpolation.

    Values outside the nodes are clamped to the end nodes; a single node gives weight 0.
    """
    values = np.asarray(values, dtype=np.float64)
    last = nodes.size - 1
    lo = np.clip(np.searchsorted(nodes, values, side="right") - 1, 0, max(last - 1, 0))
    hi = np.minimum(lo + 1, last)
    span = nodes[hi] - nodes[lo]
    weight = np.where(span > 0.0, np.clip((values - nodes[lo]) / np.where(span > 0.0, span, 1.0), 0.0, 1.0), 0.0)
    return lo, hi, weight


def _interp_matrix(nodes: Array, query: NDArray) -> Array:
    """Linear-interpolation weights ``query.shape + (len(nodes),)``: row i maps node values to query i."""
    lo, hi, weight = _bracket(nodes, query)
    columns = np.arange(nodes.size)
    return (1.0 - weight)[..., None] * (lo[..., None] == columns) + weight[..., None] * (hi[..., None] == columns)


class _Interp:
    """Linear interpolation along one axis of ``(n, R, F, S, K)`` arrays at fixed query points.

    The queries (next-period states for one discount level) are the same at every plan step, so
    the brackets are computed once and applied at each step. ``query`` is a vector ``(Q,)``
    shared by all shoppers or ``(n, Q)`` per shopper. With few nodes the weights are applied as
    a matrix product, which is far faster than gathering corners; with many (the resolved
    reference axis) the two bracketing nodes are gathered from the flattened array.
    """

    def __init__(self, axis: int, nodes: Array, query: NDArray) -> None:
        self.axis, self.size = axis, nodes.size
        self.dense = nodes.size <= _DENSE_MAX
        if nodes.size == 1:
            return
        if self.dense:
            weights = _interp_matrix(nodes, query)
            self.weights = weights.T if weights.ndim == 2 else weights.transpose(0, 2, 1)
        else:
            lo, hi, weight = _bracket(nodes, query)
            self.lo, self.hi, self.weight = np.atleast_2d(lo), np.atleast_2d(hi), np.atleast_2d(weight)
            self._flat: dict[tuple[int, ...], tuple[NDArray[np.intp], NDArray[np.intp], Array]] = {}

    def __call__(self, values: Array) -> Array:
        if self.size == 1:
            return values
        moved = np.moveaxis(values, self.axis, -1)
        lead = moved.shape[:-1]
        if self.dense:
            if self.weights.ndim == 2:
                out = np.ascontiguousarray(moved).reshape(-1, self.size) @ self.weights
            else:
                out = np.ascontiguousarray(moved).reshape(moved.shape[0], -1, self.size) @ self.weights
            return np.moveaxis(out.reshape(*lead, -1), -1, self.axis)
        lower, upper, weight = self._indices(lead)
        flat = np.ascontiguousarray(moved).reshape(-1)
        below = flat[lower]
        out = below + weight * (flat[upper] - below)
        return np.moveaxis(out, -1, self.axis)

    def _indices(self, lead: tuple[int, ...]) -> tuple[NDArray[np.intp], NDArray[np.intp], Array]:
        """Flat indices of the bracketing nodes, ``lead + (Q,)``, cached per array shape."""
        if lead not in self._flat:
            n, inner = lead[0], int(np.prod(lead[1:], dtype=np.int64))
            rows, q = self.lo.shape  # rows: 1 (shared queries) or n (per shopper)
            base = np.arange(n * inner).reshape(n, inner, 1) * self.size
            full = (n, inner, q)
            self._flat[lead] = (
                np.broadcast_to(base + self.lo.reshape(rows, 1, q), full).reshape(*lead, q),
                np.broadcast_to(base + self.hi.reshape(rows, 1, q), full).reshape(*lead, q),
                np.ascontiguousarray(np.broadcast_to(self.weight.reshape(rows, 1, q), full)).reshape(*lead, q),
            )
        return self._flat[lead]


_DENSE_MAX = 16
_CHUNK_NODES = 8 * 5 * 5 * 8  # the default grid's node count, for which ``chunk`` is stated


def _shape(axis: int, n: int = 1) -> tuple[int, ...]:
    """Shape that puts a vector on dimension ``axis`` of a (shopper, r, f, s, k) array."""
    shape = [1, 1, 1, 1, 1]
    shape[axis] = n
    return tuple(shape)


@dataclass
class _Shoppers:
    """Per-shopper constants of the programme, named as in ``ShopperTraits``."""

    intent: Array
    discount_sensitivity: Array
    gain_weight: Array
    loss_weight: Array
    reference_memory: Array
    fatigue_sensitivity: Array
    stock_sensitivity: Array
    forward_buying: Array
    basket_value: Array
    margin: Array
    churn_logit: Array
    fatigue_churn: Array
    offer_churn: Array
    member_price_cut: Array
    membership_fee: Array
    satisfaction: Array
    start: NDArray[np.int64]

    @classmethod
    def of(cls, state: ShopperState, flat: bool = False) -> _Shoppers:
        """The shoppers' constants, ``(n,)`` if ``flat`` else shaped to broadcast over the grid."""
        col = (state.n_shoppers,) if flat else _shape(0, state.n_shoppers)
        values = {f: getattr(state.traits, f) for f in cls.__dataclass_fields__ if f not in ("satisfaction", "start")}
        values["satisfaction"] = state.satisfaction
        return cls(**{k: np.asarray(v, dtype=np.float64).reshape(col) for k, v in values.items()}, start=state.t)

    def seen(self, discount) -> Array:
        """The discount off list each shopper sees at offer ``discount`` (``dynamics.effective_discount``)."""
        return dynamics.effective_discount(discount, self.member_price_cut)

    def utility(self, *, season, shock, discount, reference, fatigue, stock) -> Array:
        """Purchase utility at offer ``discount`` through the one purchase equation, ``dynamics.purchase_utility``."""
        return dynamics.purchase_utility(
            intent=self.intent,
            season=season,
            shock=shock,
            discount=self.seen(discount),
            reference=reference,
            discount_sensitivity=self.discount_sensitivity,
            gain_weight=self.gain_weight,
            loss_weight=self.loss_weight,
            fatigue=fatigue,
            fatigue_sensitivity=self.fatigue_sensitivity,
            stock=stock,
            stock_sensitivity=self.stock_sensitivity,
        )


def _expected_margin(sh: _Shoppers, discount: float | Array) -> Array:
    """Expected profit of a purchase at offer ``discount``: V (1 + phi d)(m - e), currency (before offer cost).

    e is the discount off list the shopper pays (``dynamics.effective_discount``): d, or for a
    member the offer stacked on the member price.
    """
    return sh.basket_value * dynamics.basket_multiplier(discount, sh.forward_buying) * (sh.margin - sh.seen(discount))


def _hazard(params: SimulatorParams, sh: _Shoppers, recency, fatigue, offered) -> Array:
    if not params.dynamics.churn:
        return np.zeros(1)
    return dynamics.churn_hazard(
        sh.churn_logit,
        recency,
        fatigue,
        offered,
        sh.satisfaction,
        sh.fatigue_churn,
        sh.offer_churn,
        params.behaviour,
    )


def _season(params: SimulatorParams, t: NDArray[np.int64]) -> Array:
    return dynamics.season_by_week(params.seasonality)[dynamics.week_of_year(params.seasonality, t)]


@dataclass
class ShopperPlan:
    """Value functions of the dynamic programme for a batch of shoppers.

    Attributes:
        nodes: Node values per state axis (reference, fatigue, stock, recency).
        values: ``(horizon + 1, n, R, F, S, K)`` float32 expected profit to go (currency) at
            each plan step; step ``horizon`` is zero.
        start: ``(n,)`` the shoppers' period ``t`` when the plan was made.
    """

    params: SimulatorParams
    grid: PlanningGrid
    nodes: dict[str, Array]
    values: NDArray[np.float32]
    start: NDArray[np.int64]

    @property
    def horizon(self) -> int:
        return self.values.shape[0] - 1

    def value_at(self, step: int, state: ShopperState) -> Array:
        """Planned expected profit to go ``(n,)`` of each shopper's exact state at plan step ``step``."""
        coords = (state.reference, state.fatigue, state.stock, state.recency)
        return _point_value(self.values[step], self.nodes, coords) * state.active


def _point_value(table: NDArray, nodes: dict[str, Array], coords) -> Array:
    """Multilinear interpolation of ``table`` ``(n, R, F, S, K)`` at one point per shopper."""
    n = table.shape[0]
    brackets = [_bracket(nodes[a], np.broadcast_to(c, (n,))) for a, c in zip(_AXES, coords, strict=True)]
    rows = np.arange(n)
    total = np.zeros(n)
    for corner in itertools.product((0, 1), repeat=len(_AXES)):
        weight = np.ones(n)
        index = [rows]
        for (lo, hi, w), upper in zip(brackets, corner, strict=True):
            weight = weight * (w if upper else 1.0 - w)
            index.append(hi if upper else lo)
        total += weight * table[tuple(index)]
    return total


def solve(
    params: SimulatorParams, state: ShopperState, horizon: int, grid: PlanningGrid | None = None, chunk: int = 256
) -> ShopperPlan:
    """Backward induction over each shopper's own state, from period ``state.t`` for ``horizon`` periods.

    Time: O(n * horizon * levels * grid size); memory: ``(horizon + 1) * n * grid size`` float32.

    Args:
        params: The true scenario.
        state: The shoppers (their latent traits, satisfaction and start period are used).
        horizon: Periods to plan for.
        grid: Discretisation; the default has 8 x 5 x 5 x 8 nodes and 11 levels, or, when the
            reference discount is the only state, 81 reference nodes and the 21 decision levels.
        chunk: Shoppers solved together on the default 8 x 5 x 5 x 8 grid (bounds the working memory);
            proportionally more on smaller grids.
    """
    horizon = check_count("horizon", horizon, 1, "periods to plan for")
    chunk = check_count("chunk", chunk, 1, "shoppers solved together")
    grid = grid or PlanningGrid()
    n = state.n_shoppers
    top = None
    if n:  # a member's reference can reach the deepest discount it sees: the offer stacked on its member price
        seen = dynamics.effective_discount(params.d_max, state.traits.member_price_cut)
        top = float(max(state.reference.max(), seen.max()))
    nodes = grid.nodes(params, top=top)
    sizes = [nodes[a].size for a in _AXES]
    values = np.zeros((horizon + 1, n, *sizes), dtype=np.float32)
    # Working memory grows with shoppers x nodes: a smaller grid (a resolved reference-only plan) takes more
    # shoppers per chunk, which saves Python overhead.
    per_chunk = max(int(chunk), int(chunk) * _CHUNK_NODES // int(np.prod(sizes)))
    for lo in range(0, n, per_chunk):
        part = slice(lo, min(lo + per_chunk, n))
        _solve_chunk(params, _Shoppers.of(state.take(part)), horizon, grid, nodes, values[:, part])
    return ShopperPlan(params, grid, nodes, values, state.t.copy())


def _solve_chunk(
    params: SimulatorParams,
    sh: _Shoppers,
    horizon: int,
    grid: PlanningGrid,
    nodes: dict[str, Array],
    out: NDArray[np.float32],
) -> None:
    behaviour = params.behaviour
    r = nodes["reference"].reshape(_shape(1, nodes["reference"].size))
    f = nodes["fatigue"].reshape(_shape(2, nodes["fatigue"].size))
    s = nodes["stock"].reshape(_shape(3, nodes["stock"].size))
    k = nodes["recency"].reshape(_shape(4, nodes["recency"].size))
    shocks, weights = grid.shock_quadrature(params)
    levels = grid.plan_levels(params)
    consumed = np.maximum(s - behaviour.stock_consumption, 0.0)
    consumed_nodes = consumed.reshape(-1)
    # Next-period states, and so the interpolation brackets, are the same at every step: build them once.
    memory, phi = sh.reference_memory.reshape(-1, 1), sh.forward_buying.reshape(-1, 1)  # (n, 1): per shopper
    stock_none = _Interp(3, nodes["stock"], consumed_nodes)
    recency_none = _Interp(4, nodes["recency"], nodes["recency"] + 1.0)
    fatigue_after = {
        offered: _Interp(
            2, nodes["fatigue"], dynamics.update_fatigue(nodes["fatigue"], np.asarray(offered), behaviour.fatigue_decay)
        )
        for offered in (False, True)
    }
    stay = {
        offered: (1.0 - _hazard(params, sh, np.zeros(1), f, offered), 1.0 - _hazard(params, sh, k + 1.0, f, offered))
        for offered in (False, True)
    }
    by_level = [
        (
            d,
            _Interp(1, nodes["reference"], dynamics.update_reference(nodes["reference"], seen.reshape(-1, 1), memory)),
            _Interp(3, nodes["stock"], consumed_nodes + phi * d),
            _expected_margin(sh, d),
            # Utility without the calendar, which alone changes from step to step.
            sh.utility(season=0.0, shock=0.0, discount=d, reference=r, fatigue=f, stock=s),
        )
        for d in levels
        for seen in (sh.seen(d),)
    ]
    fee = sh.membership_fee if params.has_members else 0.0  # paid every period the member stays
    # With neither stock nor recency on the grid, buying or not leads to the same next state.
    same_after_buy = nodes["stock"].size == 1 and nodes["recency"].size == 1
    for step in range(horizon - 1, -1, -1):
        following = out[step + 1].astype(np.float64)
        season = _season(params, sh.start + step).reshape(sh.intent.shape)
        # Without a purchase, stock and recency move the same way whatever the discount.
        no_buy = recency_none(stock_none(following))
        after_buy = no_buy if same_after_buy else following[..., :1]
        continuation = {
            offered: (fatigue_after[offered](no_buy), fatigue_after[offered](after_buy)) for offered in stay
        }
        best = np.full(following.shape, -np.inf)
        for d, reference_next, stock_next, margin, utility in by_level:
            offered = bool(d > 0.0)
            cont_none, cont_buy = continuation[offered]
            stay_buy, stay_none = stay[offered]
            utility = utility + season
            if shocks.size == 1:
                p = dynamics.sigmoid(utility + shocks[0])
            else:
                p = sum(wj * dynamics.sigmoid(utility + ej) for wj, ej in zip(weights, shocks, strict=True))
            none = reference_next(cont_none)
            buy = none if same_after_buy else reference_next(stock_next(cont_buy))
            q = p * margin - params.offer_cost * offered + fee
            q = q + p * stay_buy * buy + (1.0 - p) * stay_none * none
            np.maximum(best, q, out=best)
        out[step] = best


def action_values(
    params: SimulatorParams,
    state: ShopperState,
    levels: Array,
    plan: ShopperPlan | None = None,
    plan_rows: NDArray[np.intp] | None = None,
    value_scale: Array | None = None,
) -> Array:
    """Expected profit of each discount level for each shopper at its exact current state.

    This period's purchase probability uses the shopper's actual intent shock; later periods come
    from ``plan`` (None: this period only, the myopic objective). Churned shoppers get 0.

    Args:
        levels: ``(L,)`` discount fractions in [0, d_max].
        plan_rows: ``(n,)`` the plan's shopper whose values each shopper uses (default: shopper i uses
            row i). Lets many shoppers share the plan of a representative one (the ``twin`` policy).
        value_scale: ``(n,)`` multiplier on the planned profit to go (default 1): profit scales with
            the basket, so a shopper with twice its representative's basket has twice its future.

    Returns:
        ``(n, L)`` expected profit (currency): this period's, plus the planned profit to go.
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 1 or not np.all(np.isfinite(levels)) or np.any((levels < 0.0) | (levels > params.d_max + 1e-12)):
        raise ValueError(f"levels: expected a list of discounts in [0, {params.d_max}], got {levels.tolist()}")
    n = state.n_shoppers
    sh = _Shoppers.of(state, flat=True)
    tr = state.traits
    behaviour = params.behaviour
    season = _season(params, state.t)
    table = None
    if plan is not None:
        rows = np.arange(n) if plan_rows is None else np.asarray(plan_rows, dtype=np.intp)
        steps = state.t - plan.start[rows] + 1
        if n and (steps.min() < 1 or steps.max() > plan.horizon):
            raise ValueError(
                f"state.t: periods {int(state.t.min())}..{int(state.t.max())} are outside the plan "
                f"made at period {int(plan.start.min())} for {plan.horizon} periods"
            )
        table = plan.values[steps, rows]
        if value_scale is not None:
            table = table * np.asarray(value_scale, dtype=np.float64).reshape((n,) + (1,) * (table.ndim - 1))
    consumed = np.maximum(state.stock - behaviour.stock_consumption, 0.0)
    out = np.empty((n, levels.size))
    for j, d in enumerate(np.asarray(levels, dtype=np.float64)):
        depth = np.full(n, d)
        utility = sh.utility(
            season=season,
            shock=state.intent_shock,
            discount=depth,
            reference=state.reference,
            fatigue=state.fatigue,
            stock=state.stock,
        )
        p = dynamics.sigmoid(utility)
        value = p * _expected_margin(sh, d) - params.offer_cost * (d > 0.0)
        if params.has_members:
            value = value + sh.membership_fee
        if table is not None:
            offered = np.full(n, d > 0.0)
            reference_next = dynamics.update_reference(state.reference, sh.seen(depth), tr.reference_memory)
            fatigue_next = dynamics.update_fatigue(state.fatigue, offered, behaviour.fatigue_decay)
            buy = _point_value(table, plan.nodes, (reference_next, fatigue_next, consumed + sh.forward_buying * d, 0.0))
            none = _point_value(table, plan.nodes, (reference_next, fatigue_next, consumed, state.recency + 1.0))
            stay_buy = 1.0 - _hazard(params, sh, np.zeros(n), state.fatigue, offered)
            stay_none = 1.0 - _hazard(params, sh, state.recency + 1.0, state.fatigue, offered)
            value = value + p * stay_buy * buy + (1.0 - p) * stay_none * none
        out[:, j] = value * state.active
    return out
