"""Loyalty commands: the 'loyalty' group."""
