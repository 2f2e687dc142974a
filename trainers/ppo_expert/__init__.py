"""PPO grid expert trainer (Stable-Baselines3). Kept empty: ``spec`` is light, ``train`` is heavy."""
