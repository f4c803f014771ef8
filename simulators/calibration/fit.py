"""Maximum-likelihood fit of the latent-class dynamic logit: optimiser, intervals, identification, BIC.

The free parameters are packed into one unconstrained vector (``Layout``); L-BFGS with a
strong-Wolfe line search (torch) maximises the mean log-likelihood of the fitting shoppers, whose
value and gradient a ``source.LogSource`` computes: shard by shard in this process (memory bounded
by the shard, the optimum the full-batch one), or summed over Ray workers that hold the shards.
Intervals come from the observed information (the Hessian at the optimum) and the delta method.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from discountsim.simulators.calibration.likelihood import (
    DTYPE,
    Calendar,
    Fixed,
    PanelTensors,
    forward,
    mixture_loglik,
    to_natural,
    to_unconstrained,
)
from discountsim.simulators.calibration.parameters import SPEC, SPECS
from numpy.typing import NDArray

if TYPE_CHECKING:
    from discountsim.simulators.calibration.source import LogSource

log = logging.getLogger(__name__)
NAMES = (*(s.name for s in SPECS), "share")


@dataclass(frozen=True)
class Layout:
    """Where each parameter's values sit in the flat unconstrained vector (shares: K logits, first fixed at 0)."""

    sizes: dict[str, int]

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name in NAMES:
            out[name] = slice(start, start + self.sizes[name])
            start += self.sizes[name]
        return out

    @property
    def size(self) -> int:
        return sum(self.sizes.values())

    def pack(self, natural: dict[str, NDArray]) -> NDArray[np.float64]:
        theta = np.zeros(self.size)
        for name, where in self.slices.items():
            theta[where] = np.atleast_1d(to_unconstrained(name, natural[name]))
        return theta

    def unpack(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        nat = {}
        for name, where in self.slices.items():
            value = to_natural(name, theta[where])
            nat[name] = value.reshape(()) if SPEC.get(name) is not None and SPEC[name].shape == "population" else value
        return nat

    def labels(self) -> list[tuple[str, int]]:
        """(parameter, index) of every entry, in vector order."""
        return [(name, j) for name in NAMES for j in range(self.sizes[name])]


@dataclass(frozen=True)
class Coordinates:
    """Which entries of the unconstrained vector the optimiser moves, and which move as one.

    Attributes:
        free: ``(size,)`` entries that are estimated (the rest stay where the start put them).
        group: ``(free.sum(),)`` for each free entry, in vector order, the estimated value it takes
            (``0 .. n_values - 1``). Entries of one group are tied: one value shared by them, as when a
            value no segment's data identify alone is estimated once for all of those segments.
    """

    free: NDArray[np.bool_]
    group: NDArray[np.intp]

    @classmethod
    def of(cls, free: NDArray[np.bool_], tied: Iterable[Sequence[int]] = ()) -> Coordinates:
        """Every free entry its own value, except that the vector indices in each of ``tied`` share one."""
        free = np.asarray(free, dtype=bool)
        index = np.flatnonzero(free)
        group = np.arange(index.size)
        for entries in tied:
            entries = np.sort(np.asarray(entries, dtype=np.intp))
            if not free[entries].all():
                raise ValueError(f"tied entries {entries.tolist()} must all be free")
            positions = np.searchsorted(index, entries)
            group[positions] = group[positions[0]]
        _, renumbered = np.unique(group, return_inverse=True)
        return cls(free, renumbered.astype(np.intp))

    @property
    def n_values(self) -> int:
        """Number of estimated values (a tied group counts once)."""
        return int(self.group.max()) + 1 if self.group.size else 0

    def expand(self, theta: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``theta`` with the free entries set from the estimated values ``x`` ``(n_values,)``."""
        out = np.asarray(theta, dtype=np.float64).copy()
        out[self.free] = np.asarray(x, dtype=np.float64)[self.group]
        return out

    def reduce(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """The estimated values at ``theta``: each group's mean over its entries."""
        values = np.asarray(theta, dtype=np.float64)[self.free]
        return np.bincount(self.group, values, self.n_values) / np.bincount(self.group, minlength=self.n_values)

    def reduce_gradient(self, grad_free: NDArray[np.float64]) -> NDArray[np.float64]:
        """Gradient in the estimated values from the gradient in the free entries (chain rule: sum per group)."""
        return np.bincount(self.group, np.asarray(grad_free, dtype=np.float64), self.n_values)


@dataclass
class FitResult:
    """One fitted model.

    Attributes:
        n_segments: K.
        natural: Estimates in natural units (``parameters`` dict layout).
        theta: The unconstrained vector at the optimum.
        coords: Which entries were estimated (the rest kept at the base value) and which share one value.
        loglik: Log-likelihood of the fitting shoppers (purchases and baskets).
        n_free: Number of estimated values (the share logit of the first segment is not one; a
            value shared by several segments is one).
        bic: -2 loglik + n_free log(n_shoppers).
        seconds: Wall time of the optimisation.
        converged: The optimiser stopped on its gradient or change tolerance, not its iteration cap.
        se: Natural-unit standard errors (NaN where kept fixed or where the information is singular).
    """

    n_segments: int
    natural: dict[str, NDArray]
    theta: NDArray[np.float64]
    coords: Coordinates
    loglik: float
    n_free: int
    bic: float
    seconds: float
    converged: bool
    iterations: int
    se: dict[str, NDArray] = field(default_factory=dict)

    @property
    def free(self) -> NDArray[np.bool_]:
        """``(size,)`` which entries were estimated."""
        return self.coords.free


def shards_of(data: PanelTensors, shard_size: int) -> list[PanelTensors]:
    """The panel cut into consecutive shards of at most ``shard_size`` shoppers."""
    n = data.discount.shape[0]
    return [data.take(slice(i, i + shard_size)) for i in range(0, n, shard_size)]


def total_loglik(
    layout: Layout, theta: torch.Tensor, shards: Sequence[PanelTensors], calendar: Calendar, fixed: Fixed
) -> torch.Tensor:
    """Sum of the shoppers' log-likelihoods over all shards (differentiable in ``theta``)."""
    nat = layout.unpack(theta)
    return sum(mixture_loglik(nat, forward(nat, shard, calendar, fixed)).sum() for shard in shards)


CHUNK = 25
"""L-BFGS iterations between two checks of progress."""
PROGRESS_TOLERANCE = 2e-4
"""Stop when ``CHUNK`` iterations raise the log-likelihood by less than this per shopper.

Past that point the optimiser only drifts along flat directions (values the log hardly
informs), which the identification step then reports; differences between models (BIC) are
orders of magnitude larger.
"""


def backward_by_shard(
    layout: Layout,
    base: torch.Tensor,
    mask: torch.Tensor,
    x: torch.Tensor,
    shards: Sequence[PanelTensors],
    calendar: Calendar,
    fixed: Fixed,
    scale: float = 1.0,
) -> float:
    """-scale x log-likelihood of all shards at free values ``x``; its gradient accumulates in ``x.grad``.

    One shard at a time, so the autograd graph (and memory) is that of one shard.
    """
    total = 0.0
    for shard in shards:
        nat = layout.unpack(base.masked_scatter(mask, x))
        loss = -mixture_loglik(nat, forward(nat, shard, calendar, fixed)).sum() * scale
        loss.backward()
        total += float(loss.detach())
    return total


def optimise(
    layout: Layout,
    start: NDArray[np.float64],
    coords: Coordinates,
    source: LogSource,
    max_iter: int = 300,
    gradient_tolerance: float = 1e-6,
) -> tuple[NDArray[np.float64], float, bool, int]:
    """Maximise the log-likelihood over the estimated values from ``start``: (theta, loglik, converged, iterations).

    The source computes the value and gradient in the free entries (here, or summed over workers);
    tied entries' gradients are summed into their shared value; L-BFGS runs here.
    """
    n_total = max(source.summary.n_fit, 1)
    base = np.asarray(start, dtype=np.float64).copy()
    x = torch.tensor(coords.reduce(base), dtype=DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=CHUNK,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=gradient_tolerance,
        tolerance_change=1e-12,
    )

    def at(values: torch.Tensor) -> NDArray[np.float64]:
        return coords.expand(base, values.detach().numpy())

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value, grad = source.loglik_and_grad(layout, at(x), coords.free)
        x.grad = torch.tensor(-coords.reduce_gradient(grad) / n_total, dtype=DTYPE)
        return torch.tensor(-value / n_total, dtype=DTYPE)

    previous = math.inf
    converged = False
    iterations = 0
    while iterations < max_iter:
        loss = float(opt.step(closure))
        done = int(opt.state[opt._params[0]].get("n_iter", 0))
        stalled = done - iterations < CHUNK  # L-BFGS stopped on its own tolerances
        iterations = done
        if stalled or (previous - loss) * n_total < PROGRESS_TOLERANCE * n_total or not math.isfinite(loss):
            converged = math.isfinite(loss)
            break
        previous = loss
    theta = at(x)
    return theta, source.loglik(layout, theta), converged, iterations


def standard_errors(
    layout: Layout, theta: NDArray[np.float64], coords: Coordinates, source: LogSource
) -> dict[str, NDArray]:
    """Natural-unit standard errors from the observed information (inverse Hessian, delta method).

    Entries kept fixed get NaN; a singular information matrix gives inf for the entries it leaves
    undetermined (pseudo-inverse with a relative eigenvalue floor). Tied entries share their value's error.
    """
    theta = np.asarray(theta, dtype=np.float64)
    base = torch.tensor(theta, dtype=DTYPE)
    mask = torch.tensor(coords.free)
    group = torch.tensor(coords.group)
    x = coords.reduce(theta)

    def gradient(values: NDArray[np.float64]) -> NDArray[np.float64]:
        # of -loglik: the information is positive
        return -coords.reduce_gradient(source.loglik_and_grad(layout, coords.expand(theta, values), coords.free)[1])

    # Central differences of the exact gradient: 2 P gradient passes, each one shard at a time.
    step = 1e-4
    hessian = np.empty((x.size, x.size))
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = step
        hessian[:, j] = (gradient(x + e) - gradient(x - e)) / (2.0 * step)
    hessian = 0.5 * (hessian + hessian.T)
    values, vectors = np.linalg.eigh(hessian)
    floor = max(values.max(), 1e-12) * 1e-9
    good = values > floor
    cov = (vectors[:, good] / values[good]) @ vectors[:, good].T
    # One value per flat direction is not identified: the one that loads most on it. Fixing it at the base
    # value identifies the others (b and g, say, trade off along one direction; fixing both would discard
    # what the log says about their sum). A tied value marks every entry that shares it.
    weak_values = {int(np.argmax(np.abs(vectors[:, j]))) for j in np.flatnonzero(~good)}
    free_index = np.flatnonzero(coords.free)
    weak_entries = free_index[np.isin(coords.group, sorted(weak_values))]

    def flat_natural(v: torch.Tensor) -> torch.Tensor:
        nat = layout.unpack(base.masked_scatter(mask, v[group]))
        return torch.cat([nat[name].reshape(-1) for name in NAMES])

    jac = torch.autograd.functional.jacobian(flat_natural, torch.tensor(x, dtype=DTYPE)).numpy()
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    se_flat = np.sqrt(np.maximum(var, 0.0))
    # Entries that load on an unidentified direction, or that were not estimated, have no standard error.
    se_flat[weak_entries] = np.inf  # the natural values have the layout of theta
    se_flat[~_natural_free(layout, coords.free)] = np.nan
    out, start = {}, 0
    for name in NAMES:
        size = layout.sizes[name]
        out[name] = se_flat[start : start + size]
        start += size
    return out


def _natural_free(layout: Layout, free: NDArray[np.bool_]) -> NDArray[np.bool_]:
    # The natural entries have the same layout as theta; a share depends on every free share logit.
    out = free.copy()
    shares = layout.slices["share"]
    out[shares] = free[shares].any()
    return out


BOUND_TOLERANCE = 1e-3


def at_bound(name: str, value: float) -> bool:
    """The estimate sits on the edge of its allowed range (0 for a non-negative value, 0 or 1 for a fraction).

    There the likelihood is flat in the unconstrained coordinate, so the observed information says
    nothing; the estimate is reported as "at the bound" (the data push it there), not as unidentified.
    """
    transform = SPEC[name].transform if name in SPEC else "identity"
    if transform == "positive":
        return value < BOUND_TOLERANCE
    if transform == "unit":
        return value < BOUND_TOLERANCE or value > 1.0 - BOUND_TOLERANCE
    return False


def not_identified(natural: dict[str, NDArray], se: dict[str, NDArray]) -> list[tuple[str, int]]:
    """(parameter, index) entries whose standard error exceeds half of max(|estimate|, the parameter's scale).

    Entries kept fixed (NaN error) and estimates at a bound of their range are not listed.
    """
    out = []
    for spec in SPECS:
        est, err = np.atleast_1d(natural[spec.name]), np.atleast_1d(se[spec.name])
        for j in range(est.size):
            if np.isnan(err[j]) or at_bound(spec.name, float(est[j])):
                continue
            if not np.isfinite(err[j]) or err[j] > 0.5 * max(abs(float(est[j])), spec.scale):
                out.append((spec.name, j))
    return out


def fit_segments(
    n_segments: int,
    start: dict[str, NDArray],
    defaults: dict[str, NDArray],
    source: LogSource,
    kept: set[tuple[str, int]] | None = None,
    max_iter: int = 300,
    progress: Callable[[str], None] | None = None,
    pooled: dict[str, list[int]] | None = None,
) -> FitResult:
    """Fit a K-segment model from ``start``; entries in ``kept`` stay at their ``defaults`` value.

    ``pooled`` maps a per-segment parameter to the segments that share one value of it (estimated
    once, started at their mean); those segments must not be in ``kept``.
    """
    sizes = {name: int(np.atleast_1d(start[name]).size) for name in NAMES}
    layout = Layout(sizes)
    init = interior({name: start[name] for name in NAMES})  # a copy, off the bounds
    free = np.ones(layout.size, dtype=bool)
    free[layout.slices["share"].start] = False  # the first share logit is the reference (0)
    free[layout.slices["category_log_scale"].start] = False  # basket values are in the first category's units
    for name, j in kept or set():
        init[name] = np.atleast_1d(init[name]).copy()
        init[name][j] = np.atleast_1d(defaults[name])[j]
        free[layout.slices[name].start + j] = False
    tied = [[layout.slices[name].start + j for j in segs] for name, segs in (pooled or {}).items() if len(segs) > 1]
    coords = Coordinates.of(free, tied)
    began = time.perf_counter()
    theta, loglik, converged, iterations = optimise(layout, layout.pack(init), coords, source, max_iter)
    seconds = time.perf_counter() - began
    with torch.no_grad():
        natural = {k: v.numpy().copy() for k, v in layout.unpack(torch.tensor(theta, dtype=DTYPE)).items()}
    n_free = coords.n_values
    result = FitResult(
        n_segments,
        natural,
        theta,
        coords,
        loglik,
        n_free,
        -2.0 * loglik + n_free * math.log(max(source.summary.n_fit, 1)),
        seconds,
        converged,
        iterations,
    )
    if progress:
        progress(
            f"K={n_segments}: log-likelihood {loglik:,.1f}, BIC {result.bic:,.1f}, "
            f"{iterations} iterations, {seconds:.1f} s{'' if converged else ' (iteration cap reached)'}"
        )
    return result


START_FLOOR = 0.2
"""No free value starts below this share of its parameter's scale (``interior``)."""


def interior(natural: dict[str, NDArray]) -> dict[str, NDArray]:
    """A start with every bounded value moved off its bound: positive values at least
    ``START_FLOOR`` x their scale, fractions inside [0.01, 0.99].

    The optimiser works on softplus and sigmoid coordinates, whose slope vanishes at the bounds
    (softplus' slope at a natural value v is 1 - exp(-v), about v): a value started at 0 cannot move.
    Before this, the base's offer churn of 0 (the share-weighted median) froze every segment's offer
    churn, and a smaller K's fit that pushed stock sensitivity to 0 froze it along the whole K-path.
    """
    out = {name: np.array(value, dtype=np.float64, copy=True) for name, value in natural.items()}
    for name, value in out.items():
        spec = SPEC.get(name)
        if spec is None:
            continue
        if spec.transform == "positive":
            out[name] = np.maximum(value, START_FLOOR * spec.scale)
        elif spec.transform == "unit":
            out[name] = np.clip(value, 0.01, 0.99)
    return out


def starting_values(defaults: dict[str, NDArray], rates: NDArray[np.float64], n_segments: int) -> dict[str, NDArray]:
    """Defaults with segments spread over the quantiles of the shoppers' purchase rates (logit)."""
    start = {k: np.array(v, dtype=np.float64, copy=True) for k, v in defaults.items()}
    q = (np.arange(n_segments) + 0.5) / n_segments
    rate = np.clip(np.quantile(rates, q), 0.005, 0.95)
    start["intent"] = np.log(rate / (1.0 - rate))
    start["share"] = np.full(n_segments, 1.0 / n_segments)
    return start


def split_largest(natural: dict[str, NDArray], spread: float = 0.6) -> dict[str, NDArray]:
    """A K+1-segment start from a K-segment fit: the largest segment split in two, intents moved apart.

    Warm starts make the path over K cheap and keep each model at least as good as the last.
    """
    k = int(np.argmax(natural["share"]))
    out = {}
    for name, value in natural.items():
        value = np.asarray(value, dtype=np.float64)
        if name == "share" or (SPEC.get(name) is not None and SPEC[name].shape == "segment"):
            value = np.append(value, value[k])
        out[name] = value.copy()
    out["share"][k] *= 0.5
    out["share"][-1] = out["share"][k]
    out["intent"][k] -= spread / 2
    out["intent"][-1] += spread / 2
    out["discount_sensitivity"][-1] *= 1.5
    return out
