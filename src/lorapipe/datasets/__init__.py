"""Datasets: readers for every supported format into the canonical schema
(:mod:`lorapipe.contract.conversation`), validation, token statistics."""
