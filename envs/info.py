"""Per-step ``info`` dicts: the period's money and purchase for one shopper."""

from __future__ import annotations

from typing import Any

from discountsim.simulators import MONEY_FIELDS, Outcome

INFO_KEYS = (*MONEY_FIELDS, "purchased", "discount")


def step_info(outcome: Outcome, row: int) -> dict[str, Any]:
    """Info of shopper ``row``: money in currency, ``purchased`` 0/1, ``discount`` as a fraction."""
    return {key: float(getattr(outcome, key)[row]) for key in INFO_KEYS}


def shopper_info(outcome: Outcome) -> dict[str, Any]:
    """``step_info`` of a one-shopper outcome whose fields are scalars (``simulators.single``)."""
    # A dict literal: the single-shopper env builds one per step; keep its keys equal to INFO_KEYS.
    return {
        "revenue": float(outcome.revenue),
        "discount_cost": float(outcome.discount_cost),
        "offer_cost": float(outcome.offer_cost),
        "promotion_cost": float(outcome.promotion_cost),
        "cogs": float(outcome.cogs),
        "profit": float(outcome.profit),
        "purchased": float(outcome.purchased),
        "discount": float(outcome.discount),
    }


def step_infos(outcome: Outcome) -> list[dict[str, Any]]:
    """A fresh info dict per shopper (the batched equivalent of ``step_info``)."""
    # A dict literal per row is about twice as fast as dict(zip(...)); keep its keys equal to INFO_KEYS.
    return [
        {
            "revenue": revenue,
            "discount_cost": discount_cost,
            "offer_cost": offer_cost,
            "promotion_cost": promotion_cost,
            "cogs": cogs,
            "profit": profit,
            "purchased": purchased,
            "discount": discount,
        }
        for revenue, discount_cost, offer_cost, promotion_cost, cogs, profit, purchased, discount in zip(
            *(getattr(outcome, key).astype(float).tolist() for key in INFO_KEYS), strict=True
        )
    ]
