"""Trainers: the PPO grid expert, DreamerV3, the embedded crowd-navigation environment and their shared parts."""
