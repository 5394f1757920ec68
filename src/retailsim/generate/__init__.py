"""The behavioural retail simulator."""
