"""Use cases: the only code that writes cases; it records history and fires hooks."""
