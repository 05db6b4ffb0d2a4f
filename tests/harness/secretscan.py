"""Look for secret values where they must not be: logs, the store, HTTP bodies, other roles' files.

A `SecretScanner` is made from the secret values of a pillar (`{key path: value}`). It searches
bytes for every value in each form that would leak it (`needles`): the value itself, its
percent- and JSON-escaped forms where those differ, its hex, and the base64 of any text holding
it (an HTTP Basic `Authorization` header, a YAML `!!binary`, a base64 blob in a journal). A
`Finding` names the secret by its key path, the place and line, and the form: never the value,
so a failing test's message is safe to print and keep.

Values shorter than MIN_LENGTH are refused, not skipped: a short value also occurs by chance in
unrelated text (so a finding would mean nothing), and a secret the scan cannot look for must be
noticed rather than pass as clean.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.processes import HarnessError

MIN_LENGTH = 8
# Each match as PATH NUL LINE:NEEDLE (bytes compared, binary files read as text).
GREP = (
    *("grep", "--fixed-strings", "--text", "--only-matching"),
    *("--line-number", "--with-filename", "--null"),
)
GREP_BATCH = 500  # files a grep: well inside the argument list's limit


def key_name(path: tuple[str, ...]) -> str:
    """`postgres:replication:password`: how a finding names a secret (pillar's own notation)."""
    return ":".join(path)


def base64_fragments(value: bytes) -> set[bytes]:
    """What the base64 of any text holding `value` contains, whatever the value's offset.

    At offset 0, 1 or 2 (mod 3) in the encoded text, the characters wholly made of the value's
    bits are the same whatever comes before or after; these are searched for (standard and
    URL-safe alphabets)."""
    fragments: set[bytes] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value)
        start = -(-8 * offset // 6)  # the first character with no bit of the padding before
        end = 8 * (offset + len(value)) // 6  # past the last with no bit of what follows
        fragment = encoded[start:end]
        fragments |= {fragment, fragment.translate(bytes.maketrans(b"+/", b"-_"))}
    return fragments


def needles(value: str) -> dict[bytes, str]:
    """{bytes to search for: the form's name} of one secret value."""
    raw = value.encode()
    candidates = [
        (raw, "raw"),
        (urllib.parse.quote(value, safe="").encode(), "percent-encoded"),
        (json.dumps(value)[1:-1].encode(), "json-escaped"),
        (raw.hex().encode(), "hex"),
        (raw.hex().upper().encode(), "hex"),
        *((fragment, "base64") for fragment in sorted(base64_fragments(raw))),
    ]
    forms: dict[bytes, str] = {}
    for needle, form in candidates:
        forms.setdefault(needle, form)  # a form that is the raw value is reported as raw
    return forms


@dataclass(frozen=True, order=True)
class Finding:
    where: str  # a file's path, a URL, a store table
    line: int
    key: str  # the secret's key path: never its value
    form: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.key} ({self.form})"


@dataclass
class Scanned:
    """What one part of a scan read: files (or bodies, rows) and bytes."""

    files: int = 0
    bytes: int = 0


@dataclass
class SecretScanner:
    # Out of the repr: pytest prints an assertion's operands, and a failing test's output is kept.
    secrets: Mapping[tuple[str, ...], str] = field(repr=False)
    _needles: list[tuple[bytes, str, str]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for path, value in sorted(self.secrets.items()):
            if len(value) < MIN_LENGTH:
                raise ValueError(
                    f"secret {key_name(path)} is shorter than {MIN_LENGTH} characters: "
                    "a scan for it would find it by chance in unrelated text"
                )
            for needle, form in needles(value).items():
                self._needles.append((needle, key_name(path), form))

    @property
    def keys(self) -> list[str]:
        return sorted({key_name(path) for path in self.secrets})

    def scan_bytes(
        self, data: bytes, where: str, allowed: frozenset[str] = frozenset(), line_base: int = 0
    ) -> list[Finding]:
        """Every secret not in `allowed` (key names) in `data`, with its 1-based line."""
        found: set[Finding] = set()
        for needle, key, form in self._needles:
            if key in allowed:
                continue
            start = data.find(needle)
            while start >= 0:
                line = line_base + data.count(b"\n", 0, start) + 1
                found.add(Finding(where, line, key, form))
                start = data.find(needle, start + 1)
        return sorted(found)

    def scan_file(
        self, path: Path, where: str, allowed: frozenset[str] = frozenset(), *, tally: Scanned
    ) -> list[Finding]:
        return self.scan_files([(path, where)], allowed, tally=tally)

    def scan_files(
        self,
        files: Sequence[tuple[Path, str]],
        allowed: frozenset[str] = frozenset(),
        *,
        tally: Scanned,
    ) -> list[Finding]:
        """Each (path, its place in a finding) searched by `grep -F` (every needle in one pass:
        the lab's hosts hold ~1 GB, mostly PostgreSQL's and Prometheus' data). A file gone
        before grep reads it (a recycled WAL segment) is skipped; any other error raises."""
        wanted = {needle: (key, form) for needle, key, form in self._needles if key not in allowed}
        places = {str(path): where for path, where in files}
        tally.files += len(files)
        tally.bytes += sum(path.stat().st_size for path, _ in files if path.exists())
        if not wanted or not files:
            return []
        if any(b"\n" in needle for needle in wanted):  # grep -f takes one needle a line
            found = []
            for path, where in files:
                found += self.scan_bytes(path.read_bytes(), where, allowed)
            return sorted(found)
        found_set: set[Finding] = set()
        for batch in range(0, len(files), GREP_BATCH):
            paths = [str(path) for path, _ in files[batch : batch + GREP_BATCH]]
            for path, line, match in _grep(sorted(wanted), paths):
                key, form = wanted[match]
                found_set.add(Finding(places[path], line, key, form))
        return sorted(found_set)

    def scan_tree(
        self,
        root: Path,
        label: str,
        allowed: frozenset[str] = frozenset(),
        *,
        tally: Scanned,
        include: Callable[[Path], bool] = lambda _: True,
    ) -> list[Finding]:
        """Every regular file under `root` that `include` accepts (symlinks are not followed:
        what they point to is scanned where it lives). A finding's place is `label` + the path
        under root, i.e. the path on the host."""
        files = [
            (path, f"{label}/{path.relative_to(root)}")
            for path in sorted(root.rglob("*"))
            if not path.is_symlink() and path.is_file() and include(path)
        ]
        return self.scan_files(files, allowed, tally=tally)

    def scan_sqlite(self, path: Path, label: str, *, tally: Scanned) -> list[Finding]:
        """Every row of every table of a SQLite file, as SQL text (one statement a line: the
        finding's line is the statement's); a secret in a deleted row's freed page is what
        scanning the file itself finds."""
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            text = "\n".join(line.replace("\n", "\\n") for line in connection.iterdump())
        finally:
            connection.close()
        data = text.encode()
        tally.files += 1
        tally.bytes += len(data)
        return self.scan_bytes(data, f"{label} (SQL dump)")


def _grep(needles: Sequence[bytes], paths: Sequence[str]) -> Iterator[tuple[str, int, bytes]]:
    """(path, line, the needle) of every match; the needles go in on stdin, never in argv."""
    result = subprocess.run(
        [*GREP, "--file=-", "--", *paths],
        input=b"\n".join(needles),
        capture_output=True,
        check=False,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},  # bytes, not characters
    )
    errors = [
        line
        for line in result.stderr.decode(errors="replace").splitlines()
        if not line.endswith("No such file or directory")
    ]
    if result.returncode > 1 and errors:
        raise HarnessError(f"grep failed: {errors[:5]}")
    for row in result.stdout.split(b"\n"):
        if row:
            path, _, rest = row.partition(b"\0")
            line, _, match = rest.partition(b":")
            yield path.decode(), int(line), match


def report(findings: Iterable[Finding]) -> str:
    """One finding a line, for an assertion message (keys and places only)."""
    return "\n".join(str(finding) for finding in findings)
