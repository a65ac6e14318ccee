"""Backends run attempts of training jobs; :mod:`lorapipe.backends.registry` lists them."""
