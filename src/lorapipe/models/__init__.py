"""Base models: the catalogue (data), model sources (tiny, packaged, local, hub) and chat encoding.

Importing this package is cheap: torch and transformers are imported inside the functions that need them.
"""
