"""specpipe: spec-driven development prompts for AI coding agents."""

__version__ = "0.1.0"
