"""Hyperparameter studies (``orch study``): Optuna searches whose trials are ordinary orch runs, in parallel workers."""
