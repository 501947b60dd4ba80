"""Shipped calibration specs: one per preset, fitting its free parameters to the documents' figures."""
