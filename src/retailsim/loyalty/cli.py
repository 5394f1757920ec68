"""Loyalty commands: the 'loyalty' group (issue: Loyalty tiers)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
