"""The secret scanner of the lab's leak test (tests/harness/secretscan.py) finds what it must."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from tests.harness import secretscan
from tests.harness.secretscan import Finding, Scanned, SecretScanner

REDIS = ("redis", "password")
REPLICATION = ("postgres", "replication", "password")
SECRETS = {REDIS: "pL4nted-redis-Secret_0123456789ab", REPLICATION: "r3pl/ication+pass=word&more"}


@pytest.fixture
def scanner() -> SecretScanner:
    return SecretScanner(SECRETS)


def test_a_planted_secret_is_found_by_key_and_line_and_its_value_is_not_printed(
    scanner: SecretScanner, tmp_path: Path
) -> None:
    log = tmp_path / "var" / "log" / "redis.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"started\nAUTH default {SECRETS[REDIS]} accepted\nready\n")
    tally = Scanned()
    found = scanner.scan_tree(tmp_path, "stg-cache-1:", tally=tally)
    assert found == [Finding("stg-cache-1:/var/log/redis.log", 2, "redis:password", "raw")]
    assert (tally.files, tally.bytes) == (1, log.stat().st_size)
    message = secretscan.report(found)
    assert message == "stg-cache-1:/var/log/redis.log:2: redis:password (raw)"
    assert all(value not in message for value in SECRETS.values())
    assert all(value not in repr(scanner) for value in SECRETS.values())  # pytest prints it


def test_a_clean_file_and_an_allowed_secret_are_no_finding(
    scanner: SecretScanner, tmp_path: Path
) -> None:
    config = tmp_path / "redis.conf"
    config.write_text(f"bind 10.20.2.11\nrequirepass {SECRETS[REDIS]}\n")
    allowed = frozenset({"redis:password"})
    assert scanner.scan_file(config, "redis.conf", allowed, tally=Scanned()) == []
    other = scanner.scan_file(config, "redis.conf", frozenset({"x"}), tally=Scanned())
    assert [f.key for f in other] == ["redis:password"]


@pytest.mark.parametrize("prefix", ["", "u:", "us:"])  # each offset of base64's 3-byte groups
def test_the_base64_of_text_holding_a_secret_is_found(scanner: SecretScanner, prefix: str) -> None:
    header = base64.b64encode(f"{prefix}{SECRETS[REPLICATION]}".encode())
    data = b"GET /patroni\nAuthorization: Basic " + header + b"\n"
    assert scanner.scan_bytes(data, "request") == [
        Finding("request", 2, "postgres:replication:password", "base64")
    ]


def test_escaped_and_hex_forms_are_found(scanner: SecretScanner) -> None:
    value = SECRETS[REPLICATION]
    data = "\n".join(
        [
            "url=postgresql://replicator:r3pl%2Fication%2Bpass%3Dword%26more@db/x",
            f'{{"dump": "{value.encode().hex()}"}}',
        ]
    ).encode()
    forms = {(f.line, f.form) for f in scanner.scan_bytes(data, "x")}
    assert forms == {(1, "percent-encoded"), (2, "hex")}


def test_a_secret_in_a_binary_file_is_found_on_its_line(
    scanner: SecretScanner, tmp_path: Path
) -> None:
    value = SECRETS[REDIS].encode()
    data = tmp_path / "000000010000000000000003"  # a WAL segment: NULs, few newlines
    data.write_bytes(b"\0\xff" * 5000 + b"\n" * 3 + b"\0" * 7 + value + b"\0" * 9000)
    missing = tmp_path / "recycled"  # gone by the time grep reads it
    files = [(data, "db:/pg_wal/3"), (missing, "db:/pg_wal/4")]
    tally = Scanned()
    assert scanner.scan_files(files, tally=tally) == [
        Finding("db:/pg_wal/3", 4, "redis:password", "raw")
    ]
    assert tally == Scanned(2, data.stat().st_size)


def test_every_row_of_a_sqlite_store_is_scanned(scanner: SecretScanner, tmp_path: Path) -> None:
    path = tmp_path / "fluxora.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE journal (id INTEGER, body TEXT)")
        db.execute("INSERT INTO journal VALUES (1, 'clean')")
        db.execute("INSERT INTO journal VALUES (2, ?)", (f"dsn password={SECRETS[REDIS]}",))
    db.close()
    found = scanner.scan_sqlite(path, "ops:/var/lib/fluxora/fluxora.sqlite", tally=Scanned())
    assert [(f.key, f.where) for f in found] == [
        ("redis:password", "ops:/var/lib/fluxora/fluxora.sqlite (SQL dump)")
    ]


def test_a_value_too_short_to_scan_for_is_refused_naming_its_key() -> None:
    with pytest.raises(ValueError, match="secret redis:password is shorter than 8"):
        SecretScanner({REDIS: "short"})
