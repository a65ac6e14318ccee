"""The ``lorapipe`` command line."""
