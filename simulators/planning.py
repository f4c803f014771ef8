"""Planning with the true model: each shopper's expected profit, and a dynamic programme over its state.

This is what an oracle that knows every shopper's latent traits and the equations of ``dynamics``
can do. It backs the ``oracle`` and ``myopic_oracle`` policies (``agents/oracle.py``); it lives
here because only ``simulators`` knows how shoppers behave.

The dynamic programme (finite horizon, backward induction, per shopper, batched with NumPy) runs
over the shopper's own state x = (reference discount r, fatigue f, stock s, recency k) on a grid,
with multilinear interpolation between nodes:

    V_H(x) = 0
    V_t(x) = max_d  pbar_t(x, d) V_i (1 + phi_i d)(m_i - d) - c_offer 1[d > 0]
                    + pbar (1 - q_buy) V_{t+1}(r', f', s'_buy, 0)
                    + (1 - pbar)(1 - q_none) V_{t+1}(r', f', s'_none, k + 1)

with r' = w r + (1 - w) d, f' = decay f + 1[d > 0], s'_buy = max(s - c, 0) + phi d,
s'_none = max(s - c, 0) and q the churn hazard after a purchase (recency 0) or without one
(recency k + 1). pbar is the purchase probability averaged over the intent shock's stationary
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

import numpy as np
from discountsim.simulators import dynamics
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
            ``reference_refine - 1`` more between neighbours, and at least
            ``RESOLVED_SHOCK_NODES`` shock nodes (see the module docstring).
    """

    reference_nodes: int = 8
    fatigue_nodes: int = 5
    stock_nodes: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    recency_nodes: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 7.0, 12.0, 20.0, 52.0)
    levels: int = 11
    decision_levels: int = 21
    shock_nodes: int = 5
    reference_refine: int = 4

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
            fine = np.linspace(0.0, params.d_max, (self.decision_levels - 1) * self.reference_refine + 1)
            above = np.linspace(params.d_max, top, self.reference_nodes)[1:] if top > params.d_max else _EMPTY
            reference = np.concatenate([fine, above])
        else:
            reference = np.linspace(0.0, top, self.reference_nodes)
        return {
            "reference": reference,
            "fatigue": np.linspace(0.0, min(fatigue_max, 52.0), self.fatigue_nodes) if on.fatigue else _ZERO,
            "stock": np.asarray(self.stock_nodes, dtype=np.float64) if on.stockpiling else _ZERO,
            "recency": np.asarray(self.recency_nodes, dtype=np.float64) if on.churn else _ZERO,
        }

    def shock_quadrature(self, params: SimulatorParams) -> tuple[Array, Array]:
        """Gauss-Hermite shocks (logit) and their probability weights for the stationary intent shock."""
        count = max(self.shock_nodes, RESOLVED_SHOCK_NODES) if self.resolves(params) else self.shock_nodes
        z, w = np.polynomial.hermite_e.hermegauss(count)
        return params.behaviour.intent_shock_sd * z, w / w.sum()


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


RESOLVED_SHOCK_NODES = 32
_EMPTY = np.zeros(0)
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


def coverage(params: SimulatorParams, grid: PlanningGrid | None = None) -> Coverage:
    """Which of the scenario's dynamics the programme approximates, and where its grid does.

    Args:
        params: The scenario.
        grid: The oracle's discretisation (default: ``PlanningGrid()``, the oracle's default).
    """
    grid = grid or PlanningGrid()
    on = params.dynamics
    if not (on.reference_effects or on.fatigue or on.stockpiling or on.churn):
        return Coverage(True)  # today's discount changes nothing later: the myopic optimum is optimal
    behaviour = params.behaviour
    gaps = []
    if behaviour.intent_shock_sd > 0.0 and behaviour.intent_shock_persistence > 0.0:
        gaps.append("intent-shock persistence (future shocks planned as independent)")
    if on.churn and behaviour.satisfaction_churn > 0.0:
        gaps.append("satisfaction's effect on churn (held at its value when planning)")
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


def _interp_axis(values: Array, axis: int, nodes: Array, query: NDArray) -> Array:
    """Interpolate ``values`` ``(n, R, F, S, K)`` along ``axis`` at ``query``.

    ``query`` is a vector ``(Q,)`` shared by all shoppers or ``(n, Q)`` per shopper. With few
    nodes the weights are applied as a matrix product, which is far faster than gathering
    corners; with many (the resolved reference axis) the two bracketing nodes are gathered.
    """
    if nodes.size == 1:
        return values
    moved = np.moveaxis(values, axis, -1)
    lead = moved.shape[:-1]
    if nodes.size > _DENSE_MAX:
        lo, hi, weight = _bracket(nodes, query)
        if lo.ndim == 2:  # per shopper: (n, 1, ..., 1, Q)
            lo, hi, weight = (x.reshape(x.shape[0], *([1] * (len(lead) - 1)), x.shape[1]) for x in (lo, hi, weight))
        full = (*lead, lo.shape[-1])
        lower = np.take_along_axis(moved, np.broadcast_to(lo, full), axis=-1)
        upper = np.take_along_axis(moved, np.broadcast_to(hi, full), axis=-1)
        return np.moveaxis(lower + weight * (upper - lower), -1, axis)
    weights = _interp_matrix(nodes, query)
    if weights.ndim == 2:
        out = np.ascontiguousarray(moved).reshape(-1, nodes.size) @ weights.T
    else:
        out = np.ascontiguousarray(moved).reshape(moved.shape[0], -1, nodes.size) @ weights.transpose(0, 2, 1)
    return np.moveaxis(out.reshape(*lead, -1), -1, axis)


_DENSE_MAX = 16


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
    satisfaction: Array
    start: NDArray[np.int64]

    @classmethod
    def of(cls, state: ShopperState, flat: bool = False) -> _Shoppers:
        """The shoppers' constants, ``(n,)`` if ``flat`` else shaped to broadcast over the grid."""
        col = (state.n_shoppers,) if flat else _shape(0, state.n_shoppers)
        values = {f: getattr(state.traits, f) for f in cls.__dataclass_fields__ if f not in ("satisfaction", "start")}
        values["satisfaction"] = state.satisfaction
        return cls(**{k: np.asarray(v, dtype=np.float64).reshape(col) for k, v in values.items()}, start=state.t)

    def utility(self, *, season, shock, discount, reference, fatigue, stock) -> Array:
        """Purchase utility through the one purchase equation, ``dynamics.purchase_utility``."""
        return dynamics.purchase_utility(
            intent=self.intent,
            season=season,
            shock=shock,
            discount=discount,
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
    """Expected profit of a purchase at ``discount``: V (1 + phi d)(m - d), currency (before offer cost)."""
    return sh.basket_value * dynamics.basket_multiplier(discount, sh.forward_buying) * (sh.margin - discount)


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
        chunk: Shoppers solved together (bounds the working memory).
    """
    grid = grid or PlanningGrid()
    n = state.n_shoppers
    nodes = grid.nodes(params, top=float(state.reference.max()) if n else None)
    sizes = [nodes[a].size for a in _AXES]
    values = np.zeros((horizon + 1, n, *sizes), dtype=np.float32)
    for lo in range(0, n, chunk):
        part = slice(lo, min(lo + chunk, n))
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
    # (n, 1): per-shopper interpolation
    memory, phi = sh.reference_memory.reshape(-1, 1), sh.forward_buying.reshape(-1, 1)
    for step in range(horizon - 1, -1, -1):
        following = out[step + 1].astype(np.float64)
        season = _season(params, sh.start + step).reshape(sh.intent.shape)
        # Without a purchase, stock and recency move the same way whatever the discount.
        no_buy = _interp_axis(following, 3, nodes["stock"], consumed.reshape(-1))
        no_buy = _interp_axis(no_buy, 4, nodes["recency"], nodes["recency"] + 1.0)
        after_buy = following[..., :1]
        by_offer = {}
        for offered in (False, True):
            fatigue_next = dynamics.update_fatigue(nodes["fatigue"], np.asarray(offered), behaviour.fatigue_decay)
            by_offer[offered] = (
                _interp_axis(no_buy, 2, nodes["fatigue"], fatigue_next),
                _interp_axis(after_buy, 2, nodes["fatigue"], fatigue_next),
                1.0 - _hazard(params, sh, np.zeros(1), f, offered),
                1.0 - _hazard(params, sh, k + 1.0, f, offered),
            )
        best = np.full(np.broadcast_shapes(following.shape), -np.inf)
        for d in levels:
            offered = bool(d > 0.0)
            cont_none, cont_buy, stay_buy, stay_none = by_offer[offered]
            utility = sh.utility(season=season, shock=0.0, discount=d, reference=r, fatigue=f, stock=s)
            p = sum(wj * dynamics.sigmoid(utility + ej) for wj, ej in zip(weights, shocks, strict=True))
            reference_next = dynamics.update_reference(nodes["reference"], d, memory)
            stock_next = consumed_nodes + phi * d
            buy = _interp_axis(
                _interp_axis(cont_buy, 3, nodes["stock"], stock_next), 1, nodes["reference"], reference_next
            )
            none = _interp_axis(cont_none, 1, nodes["reference"], reference_next)
            q = p * _expected_margin(sh, d) - params.offer_cost * offered
            q = q + p * stay_buy * buy + (1.0 - p) * stay_none * none
            np.maximum(best, q, out=best)
        out[step] = best


def action_values(
    params: SimulatorParams, state: ShopperState, levels: Array, plan: ShopperPlan | None = None
) -> Array:
    """Expected profit of each discount level for each shopper at its exact current state.

    This period's purchase probability uses the shopper's actual intent shock; later periods come
    from ``plan`` (None: this period only, the myopic objective). Churned shoppers get 0.

    Args:
        levels: ``(L,)`` discount fractions in [0, d_max].

    Returns:
        ``(n, L)`` expected profit (currency): this period's, plus the planned profit to go.
    """
    n = state.n_shoppers
    sh = _Shoppers.of(state, flat=True)
    tr = state.traits
    behaviour = params.behaviour
    season = _season(params, state.t)
    table = None
    if plan is not None:
        steps = state.t - plan.start + 1
        if n and (steps.min() < 1 or steps.max() > plan.horizon):
            raise ValueError(
                f"state.t: periods {int(state.t.min())}..{int(state.t.max())} are outside the plan "
                f"made at period {int(plan.start.min())} for {plan.horizon} periods"
            )
        table = plan.values[steps, np.arange(n)]
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
        if table is not None:
            offered = np.full(n, d > 0.0)
            reference_next = dynamics.update_reference(state.reference, depth, tr.reference_memory)
            fatigue_next = dynamics.update_fatigue(state.fatigue, offered, behaviour.fatigue_decay)
            buy = _point_value(table, plan.nodes, (reference_next, fatigue_next, consumed + sh.forward_buying * d, 0.0))
            none = _point_value(table, plan.nodes, (reference_next, fatigue_next, consumed, state.recency + 1.0))
            stay_buy = 1.0 - _hazard(params, sh, np.zeros(n), state.fatigue, offered)
            stay_none = 1.0 - _hazard(params, sh, state.recency + 1.0, state.fatigue, offered)
            value = value + p * stay_buy * buy + (1.0 - p) * stay_none * none
        out[:, j] = value * state.active
    return out
