"""DreamerV3 (Hafner et al. 2023, arXiv 2301.04104) in PyTorch: ``spec`` (light), ``train`` (entry point), and the
parts it is built from (``maths``, ``networks``, ``agent``, ``learner``, ``replay``, ``collector``, ``envs``)."""
