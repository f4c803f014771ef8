"""Static settings of a simulated shopper population: frozen, range-checked dataclasses.

Units: money in currency units (list prices), time in periods (one period = one week),
discounts as fractions of list price, utilities on the logit scale of the purchase model.
The equations that use each parameter are in ``dynamics.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from discountsim.simulators.config_schema import Range, ScenarioError, check_range, num, to_dict

PERIODS_PER_YEAR = 52


@dataclass(frozen=True)
class NormalTrait:
    """A per-shopper trait drawn as ``mean + sd * z``, z ~ N(0, 1) (logit-scale quantities)."""

    mean: float = num(0.0, -20.0, 20.0)
    sd: float = num(0.0, 0.0, 5.0)


@dataclass(frozen=True)
class PositiveTrait:
    """A per-shopper non-negative trait drawn log-normally with the given mean.

    ``x = mean * exp(sd * z - sd**2 / 2)``, z ~ N(0, 1), so E[x] = mean and ``sd`` is the
    standard deviation of log x; ``sd = 0`` gives every shopper exactly ``mean``.
    """

    mean: float = num(0.0, 0.0, 1e6)
    sd: float = num(0.0, 0.0, 3.0)


@dataclass(frozen=True)
class SegmentParams:
    """One latent shopper segment: its population share and the distributions of its traits.

    Attributes:
        share: Fraction of the population in this segment; the shares must sum to 1 (within 0.01).
        intent: Baseline purchase utility a_i (logit), before season, offers and state.
        discount_sensitivity: b_i, utility per unit of discount depth (per 100 % off).
        gain_weight: g_i, extra utility per unit of discount above the reference discount.
        loss_weight: l_i, utility lost per unit of discount below the reference discount.
        reference_memory: w in [0, 1]; weight of the old reference in its exponential smoothing.
        fatigue_sensitivity: k_i, utility lost per unit of offer fatigue.
        fatigue_churn: logit churn hazard added per unit of offer fatigue.
        offer_churn: logit churn hazard added in a period with an offer ("sleeping dogs").
        stock_sensitivity: h_i, utility lost per basket of stock on hand.
        forward_buying: phi_i, extra baskets bought per unit of discount on a discounted purchase.
        basket_value: list-price value V_i of a typical basket (currency), log-normal per shopper.
        churn_rate: weekly churn probability at recency 0, no fatigue, no offer, no satisfaction.
        initial_reference: reference discount r at the start (the discount shoppers expect).
        initial_recency: mean weeks since last purchase at the start (exponentially distributed),
            on top of ``initial_lapse``.
        initial_tenure: mean weeks since acquisition at the start (exponentially distributed).
        initial_lapse: weeks without a purchase every shopper of the segment has at the start (a
            lapsed population, as in a win-back campaign); 0 for an active one.
        max_initial_recency: longest weeks since last purchase at the start (a win-back list's cut-off).
        attributes: observable attributes a shop holds (region, age band, ...): for each attribute,
            the share of this segment's shoppers at each level (summing to 1). Set per segment so
            that they correlate with behaviour, as in real data. Every segment names the same
            attributes and levels, or none does; ``attributes: null`` in a scenario built on
            another drops the inherited ones.
        review_rate: probability that a purchase is followed by a product review.
        member_share: fraction of the segment's shoppers who are paid members (see
            ``MembershipParams``); set per segment, since who buys a membership depends on how
            much the shopper buys (loyal regulars more than occasional buyers).
    """

    share: float = num(0.2, 0.0, 1.0)
    intent: NormalTrait = field(default_factory=lambda: NormalTrait(-2.5, 0.5))
    discount_sensitivity: PositiveTrait = field(default_factory=lambda: PositiveTrait(3.0, 0.3))
    gain_weight: PositiveTrait = field(default_factory=lambda: PositiveTrait(1.0, 0.3))
    loss_weight: PositiveTrait = field(default_factory=lambda: PositiveTrait(1.5, 0.3))
    reference_memory: float = num(0.8, 0.0, 1.0)
    fatigue_sensitivity: PositiveTrait = field(default_factory=lambda: PositiveTrait(0.3, 0.3))
    fatigue_churn: float = num(0.05, 0.0, 10.0)
    offer_churn: float = num(0.0, 0.0, 10.0)
    stock_sensitivity: PositiveTrait = field(default_factory=lambda: PositiveTrait(0.8, 0.3))
    forward_buying: PositiveTrait = field(default_factory=lambda: PositiveTrait(1.0, 0.3))
    basket_value: PositiveTrait = field(default_factory=lambda: PositiveTrait(60.0, 0.5))
    churn_rate: float = num(0.01, 0.0, 1.0)
    initial_reference: float = num(0.05, 0.0, 1.0)
    initial_recency: float = num(4.0, 0.0, 520.0)
    initial_tenure: float = num(52.0, 0.0, 5200.0)
    review_rate: float = num(0.1, 0.0, 1.0)
    initial_lapse: float = num(0.0, 0.0, 520.0)
    max_initial_recency: float = num(5200.0, 0.0, 5200.0)
    attributes: dict[str, dict[str, float]] = field(default_factory=dict)
    member_share: float = num(0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if self.attributes is None:  # null in a scenario file: no attributes (drops inherited ones)
            object.__setattr__(self, "attributes", {})

    def check(self, path: str) -> None:
        if self.max_initial_recency < self.initial_lapse:
            where = f"{path}.max_initial_recency" if path else "max_initial_recency"
            raise ScenarioError(
                f"{where} must be >= initial_lapse ({self.initial_lapse} weeks); got {self.max_initial_recency}"
            )
        for attribute, levels in self.attributes.items():
            where = f"{path}.attributes.{attribute}" if path else f"attributes.{attribute}"
            if not levels or len(levels) > 127:
                raise ScenarioError(f"{where}: expected 1 to 127 levels with their shares, got {len(levels)}")
            bad = {level: share for level, share in levels.items() if not 0.0 <= share <= 1.0}
            if bad:
                raise ScenarioError(f"{where}: shares must lie in [0, 1], got {bad}")
            total = math.fsum(levels.values())
            if not abs(total - 1.0) <= SHARE_TOLERANCE:
                raise ScenarioError(
                    f"{where}: level shares must sum to 1 (within {SHARE_TOLERANCE:g}), got {total:g}: {dict(levels)}"
                )
        if self.basket_value.mean <= 0.0:
            where = f"{path}.basket_value.mean" if path else "basket_value.mean"
            raise ScenarioError(f"{where} must be > 0 (currency); got {self.basket_value.mean}")


@dataclass(frozen=True)
class CategoryParams:
    """A product category of the catalogue.

    Attributes:
        share: Fraction of shoppers whose preferred category this is; the shares must sum to 1
            (within 0.01).
        margin: Gross margin m at list price: cost of goods = basket list value * (1 - m).
        basket_scale: Multiplier on a shopper's basket value when this is its category.
    """

    share: float = num(0.2, 0.0, 1.0)
    margin: float = num(0.3, 0.0, 1.0)
    basket_scale: float = num(1.0, 0.0, 100.0, lo_open=True)


@dataclass(frozen=True)
class HolidayParams:
    """A holiday spike in purchase utility: ``uplift * exp(-0.5 * (dist / width)**2)``.

    ``dist`` is the circular distance in weeks between the period's week of year and ``week``.
    """

    name: str = "holiday"
    week: float = num(47.0, 0.0, PERIODS_PER_YEAR, hi_open=True)
    uplift: float = num(0.5, -10.0, 10.0)
    width: float = num(1.0, 0.0, 26.0, lo_open=True)


@dataclass(frozen=True)
class SeasonalityParams:
    """Seasonal shift of purchase utility by week of year (logit scale).

    season(week) = amplitude * cos(2 pi (week - peak_week) / 52) + sum of holiday spikes.

    Attributes:
        start_week: Week of year (0-51) of the first simulated period.
        amplitude: Amplitude of the annual cycle in logit units.
        peak_week: Week of year where the annual cycle peaks.
        holidays: Holiday spikes added on top of the cycle.
    """

    start_week: int = 0
    amplitude: float = num(0.15, 0.0, 5.0)
    peak_week: float = num(48.0, 0.0, PERIODS_PER_YEAR, hi_open=True)
    holidays: tuple[HolidayParams, ...] = ()

    def check(self, path: str) -> None:
        check_range(f"{path}.start_week" if path else "start_week", self.start_week, Range(0, PERIODS_PER_YEAR - 1))


@dataclass(frozen=True)
class BehaviourParams:
    """Population-wide constants of the shopper dynamics.

    Attributes:
        intent_shock_sd: Stationary sd of the AR(1) weekly intent shock (logit units).
        intent_shock_persistence: AR(1) coefficient rho of the intent shock, in [0, 1).
        basket_noise_sd: sd of log basket value around the shopper's own mean, per purchase.
        fatigue_decay: Share of offer fatigue that survives one period.
        stock_consumption: Baskets of stock used up per period.
        satisfaction_memory: Weight of old satisfaction in its exponential smoothing.
        recency_churn: Logit churn hazard per unit of log(1 + weeks since last purchase).
        satisfaction_churn: Logit churn hazard removed per unit of satisfaction.
        browse_max: Expected browse sessions per period of a shopper with a very high intent.
        browse_offset: Logit offset of the browse rate: rate = browse_max * sigmoid(intent + offset).
        cart_offset: Logit offset of the cart-add probability: P = sigmoid(intent + offset).
        history_memory: Weight of the old value in the frequency, monetary and average-discount
            moving averages that the marketer observes.
        response_memory: Weight of the old value in the smoothed counts of weeks, weeks with an
            offer, and purchases in each, behind the observation's response history
            (``SimulatorParams.observe_responses``); slower than ``history_memory``, so that a
            shopper's response to offers is judged over months rather than weeks.
    """

    intent_shock_sd: float = num(0.4, 0.0, 5.0)
    intent_shock_persistence: float = num(0.6, 0.0, 1.0, hi_open=True)
    basket_noise_sd: float = num(0.25, 0.0, 3.0)
    fatigue_decay: float = num(0.7, 0.0, 1.0)
    stock_consumption: float = num(0.5, 0.0, 100.0, lo_open=True)
    satisfaction_memory: float = num(0.8, 0.0, 1.0)
    recency_churn: float = num(0.3, 0.0, 10.0)
    satisfaction_churn: float = num(1.0, 0.0, 20.0)
    browse_max: float = num(6.0, 0.0, 1000.0, lo_open=True)
    browse_offset: float = num(2.0, -20.0, 20.0)
    cart_offset: float = num(0.5, -20.0, 20.0)
    history_memory: float = num(0.9, 0.0, 1.0)
    response_memory: float = num(0.97, 0.0, 1.0, hi_open=True)


@dataclass(frozen=True)
class MembershipParams:
    """A paid membership (Amazon Prime, Costco, a retailer's "plus" club), for the members of each segment.

    A member pays ``fee`` per period while active, buys everything at the member price, a fraction
    ``price_cut`` below list, and churns less. An offer d stacks on the member price: the member
    pays (1 - price_cut)(1 - d) of list, an effective discount e = price_cut + (1 - price_cut) d.
    The purchase utility and the reference discount see e, not d (``dynamics.effective_discount``):
    a member's reference drifts to the member price, so a coupon must go deeper than that before
    it reads as a gain (reference points set by the price a shopper usually pays, Kalyanaram &
    Winer, 1995; Briesch, Krishnamurthi, Mazumdar & Raj, 1997, Journal of Consumer Research).

    Attributes:
        price_cut: Member price below list, a fraction in [0, 1): paid on every member purchase,
            offer or not; not a promotion cost (it lowers revenue, as a lower shelf price would).
        fee: Membership fee per active member per period (currency), booked in revenue.
        churn_shift: Logit churn hazard added for members (negative: they stay longer). Paid
            membership lowers defection (Bolton, Kannan & Bramlett, 2000, Journal of the Academy
            of Marketing Science; sunk fees and switching costs).
    """

    price_cut: float = num(0.1, 0.0, 1.0, hi_open=True)
    fee: float = num(1.5, 0.0, 1e6)
    churn_shift: float = num(-1.0, -20.0, 20.0)


@dataclass(frozen=True)
class DynamicsSwitches:
    """Which inter-period dynamics are on. All off turns the problem into one-period pricing."""

    reference_effects: bool = True
    fatigue: bool = True
    stockpiling: bool = True
    churn: bool = True


SHARE_TOLERANCE = 0.01


def check_shares(where: str, shares: dict[str, float]) -> None:
    """Raise ``ScenarioError`` unless ``shares`` sum to 1 within ``SHARE_TOLERANCE``.

    Shares within the tolerance are normalised exactly when shoppers are drawn; a sum further
    off is a typo that would silently change the population, so it fails naming every share.
    """
    total = math.fsum(shares.values())
    if not abs(total - 1.0) <= SHARE_TOLERANCE:
        listed = ", ".join(f"{where}.{name}.share = {share:g}" for name, share in shares.items())
        raise ScenarioError(
            f"{where}: shares must sum to 1 (within {SHARE_TOLERANCE:g}), got {total:g}: {listed}; "
            "fix the typo or scale the shares so that they sum to 1"
        )


@dataclass(frozen=True)
class SimulatorParams:
    """Everything that defines a scenario.

    Attributes:
        name: Scenario name, used in tables.
        d_max: Deepest discount allowed, a fraction of list price in (0, 1].
        offer_cost: Cost of sending one non-zero offer (currency per offer), redeemed or not.
        currency: Label of the currency unit, for reports.
        catalogue: Product categories by name.
        segments: Latent shopper segments by name.
        seasonality: Calendar effects.
        behaviour: Population-wide dynamics constants.
        dynamics: Dynamics switches.
        observe_attributes: Whether the observation holds the shoppers' attributes (one-hot
            ``<attribute>=<level>`` columns). False: policies are blind to them, though what
            correlates with them (behaviour, category) still leaks through.
        observe_responses: Whether the observation holds each shopper's response history: its
            smoothed purchase rate in weeks with an offer, in weeks without, and the share of weeks
            it was offered something (``observation.RESPONSE_FEATURES``). What a shop's CRM can
            compute from its own logs; it tells deal seekers (buy when offered) from loyal
            regulars (buy anyway) and sleeping dogs (offers do not lift them).
        membership: The paid membership of the segments' ``member_share`` of shoppers; with no
            member anywhere (every share 0, the default) it changes nothing. With members, the
            observation holds a ``member`` column (the shop knows its members).
    """

    segments: dict[str, SegmentParams]
    catalogue: dict[str, CategoryParams]
    name: str = "custom"
    d_max: float = num(0.5, 0.0, 1.0, lo_open=True)
    offer_cost: float = num(0.1, 0.0, 1e6)
    currency: str = "EUR"
    seasonality: SeasonalityParams = field(default_factory=SeasonalityParams)
    behaviour: BehaviourParams = field(default_factory=BehaviourParams)
    dynamics: DynamicsSwitches = field(default_factory=DynamicsSwitches)
    observe_attributes: bool = False
    observe_responses: bool = False
    membership: MembershipParams = field(default_factory=MembershipParams)

    def check(self, path: str) -> None:
        for what, parts in (("segments", self.segments), ("catalogue", self.catalogue)):
            where = f"{path}.{what}" if path else what
            if not parts:
                raise ScenarioError(f"{where}: at least one entry is required")
            if len(parts) > 127:
                raise ScenarioError(f"{where}: at most 127 entries are allowed, got {len(parts)}")
            check_shares(where, {name: part.share for name, part in parts.items()})
        layouts = {
            name: {a: tuple(levels) for a, levels in seg.attributes.items()} for name, seg in self.segments.items()
        }
        first_name, first = next(iter(layouts.items()))
        for name, layout in layouts.items():
            if layout != first:
                where = f"{path}.segments" if path else "segments"
                raise ScenarioError(
                    f"{where}.{name}.attributes: every segment must give the same attributes and levels, in "
                    f"the same order; {first_name} gives {first}, {name} gives {layout}"
                )
        if not self.has_members and self.membership != MembershipParams():
            where = f"{path}.membership" if path else "membership"
            raise ScenarioError(
                f"{where}: set, but no segment has member_share > 0, so nobody is a member; give some segment "
                "a member_share (as members.yaml does) or drop membership"
            )
        if self.observe_attributes and not first:
            where = f"{path}.observe_attributes" if path else "observe_attributes"
            raise ScenarioError(f"{where}: true, but no segment has attributes to observe")

    @cached_property
    def has_members(self) -> bool:
        """True when some segment has paid members (``SegmentParams.member_share`` > 0)."""
        return any(segment.member_share > 0.0 for segment in self.segments.values())

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(self.segments)

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(self.catalogue)

    @property
    def attribute_levels(self) -> dict[str, tuple[str, ...]]:
        """Each observable attribute's levels, in order (empty without attributes)."""
        first = next(iter(self.segments.values()))
        return {attribute: tuple(levels) for attribute, levels in first.attributes.items()}


def definition(params: SimulatorParams) -> dict:
    """The scenario as plain data for hashing: ``to_dict`` without settings that change nothing.

    Membership fields are left out of a scenario without members (every ``member_share`` 0, and
    then ``membership`` at its defaults, which ``check`` enforces), so that adding the feature did
    not change the hash of any scenario that does not use it: checkpoints and train runs made
    before it still match their scenario.
    """
    data = to_dict(params)
    if not params.has_members:
        data.pop("membership", None)
        for segment in data["segments"].values():
            segment.pop("member_share", None)
    return data
