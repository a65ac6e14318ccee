"""The training engine: config and presets, the job spec, and the run started as
``python -m lorapipe.training run SPEC.json --out DIR``.

Importing this package is cheap (no torch); the engine modules import the ML stack themselves.
"""
