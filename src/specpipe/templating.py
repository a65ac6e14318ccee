"""Strict rendering of the package's Jinja2 templates.

A variable the template uses but the caller did not give is an error (StrictUndefined), and a
variable the caller gave but the template never uses is reported, so a renamed placeholder cannot
silently drop an input (the old generators only warned about leftover ``{{TOKENS}}``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("specpipe", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # markdown prompts, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class TemplateInputError(ValueError):
    """A template needs a variable that was not given."""


@dataclass(frozen=True)
class Rendered:
    """Rendered text plus the names of inputs the template did not use."""

    text: str
    unused: list[str]


@functools.cache
def template_variables(name: str) -> frozenset[str]:
    """Top-level variables a template refers to (parsed once per template)."""
    assert ENV.loader is not None
    source, _, _ = ENV.loader.get_source(ENV, name)
    return frozenset(meta.find_undeclared_variables(ENV.parse(source)))


def render(name: str, variables: dict[str, Any]) -> Rendered:
    """Render template ``name`` strictly; raises TemplateInputError naming the missing variable."""
    needed = template_variables(name)
    missing = sorted(needed - variables.keys())
    if missing:
        raise TemplateInputError(f"template {name} needs {', '.join(missing)}; give them or fix the template")
    try:
        text = ENV.get_template(name).render(**variables)
    except jinja2.UndefinedError as exc:  # an attribute of a given variable is missing
        raise TemplateInputError(f"template {name}: {exc.message}") from exc
    return Rendered(text, sorted(variables.keys() - needed))
