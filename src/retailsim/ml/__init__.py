"""Prediction commands: the 'ml' group."""
