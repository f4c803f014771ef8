"""The latent-class dynamic logit likelihood of a shop log (torch: the one module of simulators/ that imports it).

For shopper i in segment k (shares pi_k), week t of its window, with the state rebuilt from its own
offers and purchases by the simulator's update equations (``dynamics``):

    u_ikt = a_k + season(t) + b_k d + g_k max(d - r_ikt, 0) - l_k max(r_ikt - d, 0) - k_k f_it - h_k s_ikt
    r' = w_k r + (1 - w_k) d,  f' = decay f + 1[d > 0],  s' = max(s - c, 0) + 1[buy, d > 0] phi_k d

Churn is latent: an active shopper buys with probability sigmoid(u) and then leaves with
q = sigmoid(churn_k + c_rec log(1 + recency) + c_fat,k f + c_off,k 1[d > 0] - c_sat satisfaction),
a churned one never buys again. A forward pass over weeks (a two-state hidden Markov chain per
shopper and segment, normalised each week) marginalises over when, if ever, the shopper left.
Baskets are log-normal with a shopper effect: log B = log V_k - sd_k^2/2 - sd_e^2/2 + log scale_c
+ log(1 + phi_k d_paid) + sd_k z_i + sd_e e_it, integrated out in closed form (compound symmetry).
The shopper's likelihood sums over segments: L_i = sum_k pi_k L_ik (Kamakura & Russell, 1989,
Journal of Marketing Research; a dynamic version with state dependence as in Erdem & Keane, 1996,
Marketing Science). Everything is batched over shoppers and segments; the only loop is over weeks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from discountsim.simulators import dynamics
from discountsim.simulators.calibration.panel import Panel
from discountsim.simulators.calibration.parameters import SPECS, initial_recency
from discountsim.simulators.params import PERIODS_PER_YEAR, SimulatorParams
from numpy.typing import NDArray

DTYPE = torch.float64
_LOG_2PI = math.log(2.0 * math.pi)


def _softplus_inverse(x: NDArray) -> NDArray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 1e-8)
    return np.where(x > 30.0, x, np.log(np.expm1(np.minimum(x, 30.0))))


def as_tensors(natural: dict[str, NDArray]) -> dict[str, torch.Tensor]:
    """Natural values (``parameters`` layout) as the float64 tensors ``forward`` reads."""
    return {k: torch.tensor(np.asarray(v), dtype=DTYPE) for k, v in natural.items()}


def to_unconstrained(name: str, value: NDArray) -> NDArray:
    """The unconstrained number whose transform is ``value`` (natural units)."""
    transform = "share" if name == "share" else next(s.transform for s in SPECS if s.name == name)
    value = np.asarray(value, dtype=np.float64)
    if transform == "positive":
        return _softplus_inverse(value)
    if transform == "unit":
        v = np.clip(value, 1e-6, 1.0 - 1e-6)
        return np.log(v / (1.0 - v))
    if transform == "share":
        v = np.maximum(value, 1e-9)
        return np.log(v) - np.log(v[0])
    return value


def to_natural(name: str, theta: torch.Tensor) -> torch.Tensor:
    """Natural value of unconstrained ``theta`` (torch, differentiable)."""
    transform = "share" if name == "share" else next(s.transform for s in SPECS if s.name == name)
    if transform == "positive":
        return torch.nn.functional.softplus(theta)
    if transform == "unit":
        return torch.sigmoid(theta)
    if transform == "share":
        return torch.softmax(theta, dim=0)
    return theta


@dataclass(frozen=True)
class Calendar:
    """Per week of the panel: the season's basis functions. ``cos``, ``sin`` ``(T,)``; ``bumps`` ``(H, T)``."""

    cos: torch.Tensor
    sin: torch.Tensor
    bumps: torch.Tensor

    @classmethod
    def of(cls, base: SimulatorParams, start_week: int, n_periods: int) -> Calendar:
        week = (start_week + np.arange(n_periods)) % PERIODS_PER_YEAR
        angle = 2.0 * np.pi * week / PERIODS_PER_YEAR
        bumps = dynamics.holiday_bumps(base.seasonality)[:, week]
        return cls(
            torch.tensor(np.cos(angle), dtype=DTYPE),
            torch.tensor(np.sin(angle), dtype=DTYPE),
            torch.tensor(bumps, dtype=DTYPE),
        )

    def season(self, nat: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(T,)`` season(t) in logit units."""
        out = nat["season_cos"] * self.cos + nat["season_sin"] * self.sin
        if self.bumps.shape[0]:
            out = out + nat["holiday_uplift"] @ self.bumps
        return out


@dataclass(frozen=True)
class Fixed:
    """Population constants the likelihood uses but calibration keeps from the base scenario."""

    satisfaction_churn: float
    satisfaction_memory: float

    @classmethod
    def of(cls, base: SimulatorParams) -> Fixed:
        return cls(base.behaviour.satisfaction_churn, base.behaviour.satisfaction_memory)


@dataclass(frozen=True)
class PanelTensors:
    """A panel as torch tensors, each shopper's window moved to start at column 0.

    Attributes:
        discount, purchased, log_basket: ``(n, T)`` discount, purchase (0/1), log basket (0 without one).
        has_basket: ``(n, T)`` 1.0 where a purchase has a basket value > 0 (a basket of exactly 1 has log 0).
        present: ``(n, T)`` column t lies in the shopper's window (a prefix of every row).
        week: ``(n, T)`` the panel week (index into the calendar) of column t.
        category: ``(n,)`` category index.
        all_start_together: Every window starts in the panel's first week (simulated logs), so
            ``week`` is the same on every row.
    """

    discount: torch.Tensor
    purchased: torch.Tensor
    log_basket: torch.Tensor
    has_basket: torch.Tensor
    present: torch.Tensor
    week: torch.Tensor
    category: torch.Tensor
    all_start_together: bool

    @classmethod
    def of(cls, panel: Panel) -> PanelTensors:
        n, n_periods = panel.discount.shape
        start = np.argmax(panel.present, axis=1)
        week = start[:, None] + np.arange(n_periods)[None, :]
        present = week < n_periods
        week = np.minimum(week, n_periods - 1)
        rows = np.arange(n)[:, None]

        def shifted(values: NDArray) -> NDArray:
            return np.where(present, values[rows, week], 0.0)

        bought = shifted(panel.purchased) > 0
        basket = shifted(panel.basket_value)
        has_basket = bought & (basket > 0)
        log_basket = np.where(has_basket, np.log(np.where(has_basket, basket, 1.0)), 0.0)
        return cls(
            torch.tensor(shifted(panel.discount), dtype=DTYPE),
            torch.tensor(bought, dtype=DTYPE),
            torch.tensor(log_basket, dtype=DTYPE),
            torch.tensor(has_basket, dtype=DTYPE),
            torch.tensor(present, dtype=torch.bool),
            torch.tensor(week, dtype=torch.long),
            torch.tensor(panel.category, dtype=torch.long),
            bool((start == 0).all()),
        )

    def take(self, index: slice) -> PanelTensors:
        """The shoppers at ``index`` (a slice of rows)."""
        week = self.week[index]
        return PanelTensors(
            self.discount[index],
            self.purchased[index],
            self.log_basket[index],
            self.has_basket[index],
            self.present[index],
            week,
            self.category[index],
            self.all_start_together,
        )


@dataclass
class Forward:
    """Result of the forward pass, per shopper and segment.

    Attributes:
        purchase_loglik: ``(n, K)`` log P(purchases | segment k), churn marginalised.
        basket_loglik: ``(n, K)`` log density of the shopper's baskets given segment k.
        predicted: ``(n, T, K)`` P(buy in week t | segment k, weeks before t) (0 outside the window).
        prior_loglik: ``(n, T, K)`` log P(weeks before t | segment k), to weight ``predicted`` by segment.
    """

    purchase_loglik: torch.Tensor
    basket_loglik: torch.Tensor
    predicted: torch.Tensor | None = None
    prior_loglik: torch.Tensor | None = None


def forward(
    nat: dict[str, torch.Tensor],
    data: PanelTensors,
    calendar: Calendar,
    fixed: Fixed,
    keep_predictions: bool = False,
) -> Forward:
    """Run the segments' dynamics over every shopper's weeks and score the observed purchases and baskets."""
    n, n_periods = data.discount.shape
    season = calendar.season(nat)
    a, b, g, l_ = nat["intent"], nat["discount_sensitivity"], nat["gain_weight"], nat["loss_weight"]
    w, kf, h, phi = nat["reference_memory"], nat["fatigue_sensitivity"], nat["stock_sensitivity"], nat["forward_buying"]
    k = a.shape[0]
    r = nat["initial_reference"].expand(n, k)
    f = torch.zeros(n, 1, dtype=DTYPE)
    s = torch.zeros(n, k, dtype=DTYPE)
    recency0 = (
        nat["initial_recency"]
        if "initial_recency" in nat
        else torch.as_tensor(initial_recency(a.detach().numpy()), dtype=DTYPE)
    )
    rec = recency0.expand(n, k)
    sat = torch.sigmoid(a).expand(n, k)
    alive = torch.ones(n, k, dtype=DTYPE)
    loglik = torch.zeros(n, k, dtype=DTYPE)
    m_sat = fixed.satisfaction_memory
    together = data.all_start_together
    predicted, prior = [], []
    for t in range(n_periods):
        d = data.discount[:, t : t + 1]
        y = data.purchased[:, t : t + 1]
        here = data.present[:, t : t + 1]
        offered = (d > 0).to(DTYPE)
        season_t = season[t] if together else season[data.week[:, t : t + 1]]
        u = a + season_t + b * d + g * torch.relu(d - r) - l_ * torch.relu(r - d) - kf * f - h * s
        p = torch.sigmoid(u)
        if keep_predictions:
            predicted.append(torch.where(here, alive * p, 0.0))
            prior.append(loglik)
        # This week's likelihood: active and y ~ Bernoulli(p), or churned before and y = 0.
        live = alive * torch.where(y > 0, p, 1.0 - p)
        total = live + (1.0 - alive) * (1.0 - y)
        loglik = loglik + torch.where(here, torch.log(torch.clamp(total, min=1e-300)), 0.0)
        # Windows are prefixes: the state of a shopper whose window has ended is never read again.
        rec = torch.where(y > 0, 0.0, rec + 1.0)
        hazard = torch.sigmoid(
            nat["churn_logit"]
            + nat["recency_churn"] * torch.log1p(rec)
            + nat["fatigue_churn"] * f
            + nat["offer_churn"] * offered
            - fixed.satisfaction_churn * sat
        )
        alive = live / torch.clamp(total, min=1e-300) * (1.0 - hazard)
        r = w * r + (1.0 - w) * d
        f = nat["fatigue_decay"] * f + offered
        s = torch.relu(s - nat["stock_consumption"]) + phi * (y * offered * d)
        sat = m_sat * sat + (1.0 - m_sat) * y
    out = Forward(loglik, basket_loglik(nat, data))
    if keep_predictions:
        out.predicted = torch.stack(predicted, dim=1)
        out.prior_loglik = torch.stack(prior, dim=1)
    return out


def basket_loglik(nat: dict[str, torch.Tensor], data: PanelTensors) -> torch.Tensor:
    """``(n, K)`` log density of each shopper's log baskets given segment k, shopper effect integrated out.

    For m baskets with residuals e_j (log basket minus the segment's expected log basket), a
    shopper effect of variance v and noise of variance s2, the vector is normal with compound
    symmetry: log f = -m/2 log 2 pi - (m-1)/2 log s2 - 1/2 log(s2 + m v)
    - 1/2 [sum e^2 / s2 - v (sum e)^2 / (s2 (s2 + m v))]  (minus sum log B, the Jacobian).
    """
    y = data.has_basket
    d_paid = data.discount * y
    sd_v, sd_e = nat["basket_sd"], nat["basket_noise_sd"]
    v, s2 = sd_v * sd_v, sd_e * sd_e
    mu = nat["log_basket_value"] - 0.5 * v - 0.5 * s2  # (K,)
    expected = mu + nat["category_log_scale"][data.category][:, None]  # (n, K)
    # (n, T, K) residuals; log(1 + phi d) only where the purchase was discounted.
    resid = data.log_basket[:, :, None] - expected[:, None, :] - torch.log1p(nat["forward_buying"] * d_paid[:, :, None])
    resid = resid * y[:, :, None]
    m = y.sum(dim=1, keepdim=True)  # (n, 1)
    s1 = resid.sum(dim=1)
    ss = (resid * resid).sum(dim=1)
    denom = s2 + m * v
    return (
        -0.5 * m * _LOG_2PI
        - 0.5 * (m - 1.0) * torch.log(s2)
        - 0.5 * torch.log(denom)
        - 0.5 * (ss / s2 - v * s1 * s1 / (s2 * denom))
        - (data.log_basket * y).sum(dim=1, keepdim=True)
    )


def mixture_loglik(nat: dict[str, torch.Tensor], fwd: Forward, baskets: bool = True) -> torch.Tensor:
    """``(n,)`` log sum_k pi_k L_ik: the shoppers' log-likelihoods (purchases, and baskets unless told not)."""
    per_segment = fwd.purchase_loglik + (fwd.basket_loglik if baskets else 0.0)
    return torch.logsumexp(torch.log(nat["share"]) + per_segment, dim=1)


def posterior(nat: dict[str, torch.Tensor], fwd: Forward) -> torch.Tensor:
    """``(n, K)`` P(segment k | the shopper's whole log)."""
    joint = torch.log(nat["share"]) + fwd.purchase_loglik + fwd.basket_loglik
    return torch.softmax(joint, dim=1)


def one_step_predictions(nat: dict[str, torch.Tensor], fwd: Forward) -> torch.Tensor:
    """``(n, T)`` P(buy in week t | the shopper's purchases before t): the filter's forecast, segments mixed."""
    assert fwd.predicted is not None and fwd.prior_loglik is not None
    weight = torch.softmax(torch.log(nat["share"]) + fwd.prior_loglik, dim=2)
    return (weight * fwd.predicted).sum(dim=2)
