"""Scoring API command: serve."""
