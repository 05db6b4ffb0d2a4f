"""The one pattern for names users give things: rules, runbooks, steps and schedules."""

from __future__ import annotations

import re

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
