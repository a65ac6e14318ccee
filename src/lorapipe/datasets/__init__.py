"""Datasets: readers for every supported format into one canonical schema, validation, statistics."""

from lorapipe.datasets.schema import ROLES, Example, Message, Role

__all__ = ["ROLES", "Example", "Message", "Role"]
