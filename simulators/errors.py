"""Exceptions shared by every layer."""

from __future__ import annotations


class DiscountSimInputError(ValueError):
    """An error caused by the user's input (config, scenario, file); shown without a traceback."""
