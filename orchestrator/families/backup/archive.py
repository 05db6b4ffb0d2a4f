"""Data offsets for pg_dump custom-format archives that were written to a pipe.

pg_dump records where each table's data starts in the archive's table of contents only when
it can seek back into its output; a backup streams it to a pipe, so every entry says "offset
not set". pg_restore -j then makes each worker scan the archive for the data it needs, which
measured several times slower than restoring the same data with offsets. Restore-verify has
the archive as a local file anyway, so it walks the data blocks once (reading only block and
chunk headers) and writes the offsets into the TOC in place, exactly where pg_dump would have.

Format (pg_backup_archiver.c, pg_backup_custom.c; archive versions 1.14 to 1.16): a header,
the TOC (per entry a fixed list of ints and strings, then the offset: a flag byte and
`offSize` bytes, smallest first), then data blocks: a type byte, the entry's dump id, and
length-prefixed chunks ending with a zero length (large-object blocks repeat that per object).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.core.errors import FluxoraError

MAGIC = b"PGDMP"
SUPPORTED = ((1, 14), (1, 16))
OFFSET_NOT_SET, OFFSET_SET = 1, 2
BLOCK_DATA, BLOCK_BLOBS = 1, 3


class ArchiveFormatError(FluxoraError):
    pass


class _Reader:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.int_size = 4

    def raw(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ArchiveFormatError("archive ends early")
        return data

    def byte(self) -> int:
        return self.raw(1)[0]

    def int(self) -> int:
        data = self.raw(1 + self.int_size)
        value = int.from_bytes(data[1:], "little")
        return -value if data[0] else value

    def skip_str(self) -> bool:
        """Skip a string; False when it was the NULL string."""
        length = self.int()
        if length >= 0:
            self.handle.seek(length, 1)
        return length >= 0


def _header(reader: _Reader) -> tuple[tuple[int, int], int]:
    if reader.raw(5) != MAGIC:
        raise ArchiveFormatError("not a pg_dump custom-format archive")
    version = (reader.byte(), reader.byte())
    reader.byte()  # revision
    if not SUPPORTED[0] <= version <= SUPPORTED[1]:
        raise ArchiveFormatError(f"archive version {version[0]}.{version[1]} is not supported")
    reader.int_size, offset_size = reader.byte(), reader.byte()
    if reader.byte() != 1:
        raise ArchiveFormatError("not a custom-format archive")
    if version >= (1, 15):
        reader.byte()  # compression algorithm
    else:
        reader.int()  # compression level
    for _ in range(7):  # creation time
        reader.int()
    for _ in range(3):  # database name, server version, pg_dump version
        reader.skip_str()
    return version, offset_size


@dataclass(frozen=True)
class Offsets:
    offset_size: int
    unset: dict[int, int]  # dump id -> file position of the offset field of an unset offset
    recorded: dict[int, int]  # dump id -> offset pg_dump recorded (when it could seek)
    blocks: dict[int, int]  # dump id -> position of its data block, found by walking them


def _toc(
    reader: _Reader, version: tuple[int, int], offset_size: int
) -> tuple[dict[int, int], dict[int, int]]:
    unset, recorded = {}, {}
    for _ in range(reader.int()):
        dump_id = reader.int()
        reader.int()  # had a data dumper
        for _ in range(4):  # table oid, oid, tag, description
            reader.skip_str()
        reader.int()  # section
        for _ in range(6):  # definition, drop, copy, namespace, tablespace, table AM
            reader.skip_str()
        if version >= (1, 16):
            reader.int()  # relkind
        for _ in range(2):  # owner, "false" (with oids)
            reader.skip_str()
        while reader.skip_str():  # dependencies, NULL-terminated
            pass
        position = reader.handle.tell()
        flag = reader.byte()
        offset = int.from_bytes(reader.raw(offset_size), "little")
        if flag == OFFSET_NOT_SET:
            unset[dump_id] = position
        elif flag == OFFSET_SET:
            recorded[dump_id] = offset
    return unset, recorded


def _skip_chunks(reader: _Reader) -> None:
    while (length := reader.int()) != 0:
        reader.handle.seek(length, 1)


def _blocks(reader: _Reader) -> dict[int, int]:
    """Dump id -> position of its data block, walking headers from the current position."""
    positions = {}
    while block := reader.handle.read(1):
        position = reader.handle.tell() - 1
        dump_id = reader.int()
        if block[0] == BLOCK_DATA:
            _skip_chunks(reader)
        elif block[0] == BLOCK_BLOBS:
            while reader.int() != 0:  # one large object: its oid, then its chunks
                _skip_chunks(reader)
        else:
            raise ArchiveFormatError(f"unknown block type {block[0]} at byte {position}")
        positions[dump_id] = position
    return positions


def read_offsets(path: Path) -> Offsets:
    with path.open("rb") as handle:
        reader = _Reader(handle)
        version, offset_size = _header(reader)
        unset, recorded = _toc(reader, version, offset_size)
        return Offsets(offset_size, unset, recorded, _blocks(reader))


def add_data_offsets(path: Path) -> int:
    """Write the missing data offsets into the archive's TOC; return how many were set."""
    offsets = read_offsets(path)
    patched = 0
    with path.open("r+b") as handle:
        for dump_id, slot in offsets.unset.items():
            if dump_id in offsets.blocks:
                position = offsets.blocks[dump_id].to_bytes(offsets.offset_size, "little")
                handle.seek(slot)
                handle.write(bytes([OFFSET_SET]) + position)
                patched += 1
    return patched
