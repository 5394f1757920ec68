"""Scale-out commands: load."""
