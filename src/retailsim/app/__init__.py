"""Dashboard command: app."""
