"""Strict JSON for what the HTTP sources accept, checked before anything reaches the store:
UTF-8 without a byte order mark, standard values only (no NaN or Infinity), numbers both
stores keep as sent (integers within 64 bits, finite floats), nesting at most `MAX_DEPTH`, and
strings of valid Unicode (no lone surrogates from `\\ud800` escapes). Each refusal is a 400
whose reason is a metric label and whose message names where in the body it is."""

from __future__ import annotations

import json
import math
from typing import Any

from orchestrator.engine.sources.http_common import Refusal

MAX_DEPTH = 32
MAX_INT_DIGITS = 19
INT_RANGE = (-(2**63), 2**63 - 1)
BOM = "\ufeff"


class _Bad(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS or not INT_RANGE[0] <= int(text) <= INT_RANGE[1]:
        raise _Bad("number_out_of_range", f"integer {text[:24]}... is outside 64 bits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Bad("number_out_of_range", f"number {text[:24]} is too large for a float")
    return value


def _parse_constant(name: str) -> Any:
    raise _Bad("non_standard_json", f"{name} is not a JSON value")


def load(body: bytes) -> Any:
    """The parsed body, or a `Refusal` (400) naming the problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(400, "not_utf8", f"body is not UTF-8 (byte {exc.start})") from None
    if text.startswith(BOM):
        raise Refusal(400, "byte_order_mark", "body starts with a byte order mark") from None
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except _Bad as bad:
        raise Refusal(400, bad.reason, f"body: {bad.message}") from None
    except RecursionError:
        raise Refusal(400, "too_deep", f"body: nested deeper than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise Refusal(400, "malformed_json", f"malformed JSON: {exc}") from None
    check_values(value)
    return value


def check_values(value: Any) -> None:
    """Depth and strings of a parsed body, walked without recursion."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item, where)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= MAX_DEPTH:
            raise Refusal(400, "too_deep", f"{where}: nested deeper than {MAX_DEPTH}")
        if isinstance(item, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
            continue
        for key, child in item.items():
            _check_string(key, f"{where} (a key)")
            stack.append((child, f"{where}.{key}", depth + 1))


def _check_string(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Refusal(
            400, "invalid_string", f"{where[:200]}: lone surrogate at character {exc.start}"
        ) from None
