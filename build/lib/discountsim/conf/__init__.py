"""DiscountSim's Hydra configs, shipped as package data (found through ``importlib.resources``)."""
