"""The one exception type for errors caused by the user's input (configs, scenarios, checkpoints, sizes).

Entry points print such an error's message alone, without a Python traceback (the traceback stays
available with ``HYDRA_FULL_ERROR=1``); anything else is a bug and keeps its traceback. It lives in
``simulators`` (the lowest layer) so that every layer can raise it. It is a ``ValueError``, so code
catching ``ValueError`` keeps working.
"""

from __future__ import annotations


class DiscountSimInputError(ValueError):
    """The user's input is invalid; the message names the field or file, the value and what is allowed."""
