"""meterbill: a self-hosted usage-based billing engine."""

__version__ = "0.1.0"
