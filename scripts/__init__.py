"""Scripts that build shipped data; run them from the repository root with ``python -m scripts.<name>``."""
