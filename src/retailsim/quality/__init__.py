"""Data-quality commands: validate."""
