"""Jinja2 in a sandbox for rules (`when`, `with`, keys) and runbook step parameters.

Templates are compiled once, when the YAML is loaded, so a syntax error is a load error with
the file and key. A string that is exactly one `{{ expression }}` renders to the expression's
value with its type (a number stays a number); any other string renders to a string. Missing
names are errors in templates (StrictUndefined); in `when` expressions they are simply false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orchestrator.core.errors import FluxoraError

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)

_TEMPLATES = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_CONDITIONS = ImmutableSandboxedEnvironment(undefined=Undefined, autoescape=False)

Renderer = Callable[[Mapping[str, Any]], Any]


class TemplateCompileError(FluxoraError, ValueError):
    pass


class TemplateRenderError(FluxoraError, ValueError):
    pass


def is_templated(value: Any) -> bool:
    """Whether `value` (or anything inside it) holds a Jinja2 marker."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_templated(v) for v in value)
    return False


def compile_condition(expression: str) -> Renderer:
    """A `when` expression -> a function of the context returning a bool."""
    try:
        compiled = _CONDITIONS.compile_expression(expression, undefined_to_none=True)
    except TemplateError as exc:
        raise TemplateCompileError(f"does not compile: {exc}") from exc

    def evaluate(context: Mapping[str, Any]) -> bool:
        try:
            return bool(compiled(**context))
        except Exception as exc:  # sandbox violations, type errors: all the rule's fault
            raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc

    return evaluate


def compile_value(value: Any) -> Renderer:
    """Any YAML value -> a function of the context rendering its strings (recursively)."""
    if isinstance(value, str):
        return _compile_string(value)
    if isinstance(value, Mapping):
        parts = {str(k): compile_value(v) for k, v in value.items()}
        return lambda ctx: {k: render(ctx) for k, render in parts.items()}
    if isinstance(value, (list, tuple)):
        items = [compile_value(v) for v in value]
        return lambda ctx: [render(ctx) for render in items]
    return lambda ctx: value


def _compile_string(text: str) -> Renderer:
    if not is_templated(text):
        return lambda ctx: text
    single = _SINGLE_EXPRESSION.match(text.strip())
    try:
        if single:
            expression = _TEMPLATES.compile_expression(single.group("expr"))
            return _guard(lambda ctx: expression(**ctx))
        template = _TEMPLATES.from_string(text)
    except TemplateError as exc:
        raise TemplateCompileError(f"does not compile: {exc}") from exc
    return _guard(lambda ctx: template.render(**ctx))


def _guard(render: Renderer) -> Renderer:
    def guarded(context: Mapping[str, Any]) -> Any:
        try:
            return render(context)
        except Exception as exc:  # sandbox violations, type errors: all the template's fault
            raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc

    return guarded
