"""Data offsets written into piped pg_dump archives match what pg_dump itself records."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.families.backup.archive import ArchiveFormatError, add_data_offsets, read_offsets
from tests.harness.backup import scratch_database
from tests.harness.postgres import SOCKET_DIR, PgPair

pytestmark = pytest.mark.integration

MORE = """
CREATE TABLE big AS SELECT i, md5(i::text) AS s FROM generate_series(1, 20000) i;
CREATE TABLE empty_one (x int);
SELECT lo_from_bytea(0, 'a large object');
"""


@pytest.fixture
def database(pg_pair: PgPair) -> Iterator[str]:
    with scratch_database(pg_pair.primary) as name:
        pg_pair.primary.psql(MORE, dbname=name)
        yield name


def dump(pg_pair: PgPair, dbname: str, target: Path, *, piped: bool) -> Path:
    argv = ["pg_dump", "-h", SOCKET_DIR, "-p", str(pg_pair.primary.port), "-U", "postgres",
            "-Fc", "-Z1", dbname]  # fmt: skip
    if piped:  # a real pipe: a redirect to a file would let pg_dump seek
        data = subprocess.run(argv, stdout=subprocess.PIPE, check=True).stdout
        target.write_bytes(data)
    else:
        subprocess.run([*argv, "-f", str(target)], check=True)
    return target


def test_block_walk_finds_the_offsets_pg_dump_records(
    pg_pair: PgPair, database: str, tmp_path: Path
) -> None:
    offsets = read_offsets(dump(pg_pair, database, tmp_path / "file.dump", piped=False))
    assert offsets.unset == {}
    assert len(offsets.recorded) >= 5  # four tables and the large objects
    assert {i: offsets.blocks[i] for i in offsets.recorded} == offsets.recorded


def test_piped_archive_gets_its_offsets_and_restores_in_parallel(
    pg_pair: PgPair, database: str, tmp_path: Path
) -> None:
    archive = dump(pg_pair, database, tmp_path / "piped.dump", piped=True)
    before = read_offsets(archive)
    assert before.recorded == {}
    assert add_data_offsets(archive) == len(before.unset) >= 5
    after = read_offsets(archive)
    assert after.unset == {}
    assert after.recorded == {i: after.blocks[i] for i in before.unset}
    with scratch_database(pg_pair.primary, "") as restored:
        subprocess.run(
            ["pg_restore", "-h", SOCKET_DIR, "-p", str(pg_pair.primary.port), "-U", "postgres",
             "--exit-on-error", "-j", "3", "-d", restored, str(archive)],
            check=True, capture_output=True,
        )  # fmt: skip
        assert pg_pair.primary.psql("SELECT count(*) FROM big", dbname=restored) == "20000"


def test_other_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.dump"
    path.write_bytes(b"PK\x03\x04 not an archive")
    with pytest.raises(ArchiveFormatError, match="not a pg_dump custom-format archive"):
        add_data_offsets(path)
