"""Calibrating a scenario to a shop's log: a latent-class dynamic logit fitted by maximum likelihood.

``calibrate(frame, base)`` turns a validated log into a fitted scenario with its evidence; the
modules are the panel (``panel``), the parameters (``parameters``), the likelihood
(``likelihood``, torch), the optimiser and intervals (``fit``) and the checks of fit (``checks``).
"""

from discountsim.simulators.calibration.calibrate import Calibration, calibrate

__all__ = ["Calibration", "calibrate"]
