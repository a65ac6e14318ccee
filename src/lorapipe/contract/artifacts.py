"""The names of the files a finished run leaves in its output folder that both sides of the process
boundary read by name: the engine writes them, the service, the worker and the CLI verify and serve them.
One definition, so a rename cannot leave one side looking for the old name."""

from __future__ import annotations

MANIFEST = "manifest.json"
"""Every artifact's path, size and sha256, with the run's config, metrics and memory (written last)."""

EVALUATION_REPORT = "evaluation.json"
"""An evaluation job's result: base vs adapter loss, perplexity, replies that ended (listed in the
manifest like every other artifact)."""
