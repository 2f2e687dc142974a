"""orch: validate, run, submit, watch and archive RL training runs."""

__version__ = "0.1.0"
