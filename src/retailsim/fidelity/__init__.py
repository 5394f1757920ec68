"""Fidelity: retail stylised facts, import of real logs, calibration and comparison."""
