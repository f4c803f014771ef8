"""The committed ROI-regression baseline (``baseline.json``), shipped as package data."""
