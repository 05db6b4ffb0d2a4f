"""Actions with no side effect beyond the journal (`noop`, `log`, `wait`) and `check.file`."""
