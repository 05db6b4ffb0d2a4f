"""Encrypted pillar: encrypt a secret, make and escrow a master key, rotate, check.

The one sanctioned place for secrets is salt/pillar/fluxora/secrets/<env>/<role>.sls: a
`#!yaml|gpg` file per role, every value a PGP block encrypted to the environment's Salt master
key (its private half only in the master's gpg_keydir and in escrow). Standard library and the
gpg binary only: it runs on a master or a laptop without the project's venv.

    scripts/pillar-secret encrypt RECIPIENT [--indent N] < secret
    scripts/pillar-secret keygen UID
    scripts/pillar-secret escrow KEY --to ESCROW_RECIPIENT [--to ...] --out FILE
    scripts/pillar-secret rotate ENV --from OLD_KEY --to NEW_KEY [--root DIR]
    scripts/pillar-secret check ENV --key KEY [--root DIR]

GNUPGHOME selects the keyring (the master's gpg_keydir for rotate; any keyring holding the
public key for encrypt and check).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
SECRETS_ROOT = REPO / "salt" / "pillar" / "fluxora" / "secrets"
ENVIRONMENTS = ("dev", "staging", "prod")
BEGIN = "-----BEGIN PGP MESSAGE-----"
END = "-----END PGP MESSAGE-----"
# An armoured block as a YAML block scalar: every line carries the same indentation.
BLOCK = re.compile(
    rf"^(?P<pad>[ \t]*){re.escape(BEGIN)}\n"
    rf"(?P<body>(?:(?P=pad).*\n|\n)*?)"
    rf"(?P=pad){re.escape(END)}$",
    re.MULTILINE,
)
# OpenPGP packet tags (RFC 4880 / 9580): session keys, then encrypted data.
SESSION_KEY_TAGS = {1, 3}  # public-key / symmetric-key encrypted session key
ENCRYPTED_DATA_TAGS = {9, 18, 20}  # SED, SEIPD, AEAD encrypted data


class SecretError(Exception):
    """A secret file or key that cannot be used; the message names the file or key."""


# --- the armour: what counts as an encrypted block ---------------------------------------------


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet; ValueError on a malformed stream."""
    pos = 0
    while pos < len(data):
        header = data[pos]
        if not header & 0x80:
            raise ValueError("not an OpenPGP packet")
        if header & 0x40:  # new format
            tag, pos = header & 0x3F, pos + 1
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
            else:  # partial body lengths: only encrypted data uses them; it runs to the end
                length = len(data) - pos
        else:  # old format
            tag, kind, pos = (header >> 2) & 0x0F, header & 0x03, pos + 1
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                length = len(data) - pos
            else:
                length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
        if pos + length > len(data):
            raise ValueError("truncated packet")
        yield tag, data[pos : pos + length]
        pos += length


def message_recipients(armour: str) -> list[str]:
    """Key ids (16 hex digits) an armoured PGP MESSAGE is encrypted to.

    ValueError unless it is one: a checksum that matches, session-key packets, then encrypted
    data — so clear text dressed up as armour is not taken for a secret kept safe.
    """
    lines = [line.strip() for line in armour.strip().splitlines()]
    if not lines or lines[0] != BEGIN or lines[-1] != END:
        raise ValueError("not an armoured PGP message")
    body = lines[1:-1]
    if "" in body:  # armour headers (Version:, Comment:) end at the first empty line
        body = body[body.index("") + 1 :]
    if not body or not body[-1].startswith("="):
        raise ValueError("armour checksum missing")
    data = base64.b64decode("".join(body[:-1]), validate=True)
    if int.from_bytes(base64.b64decode(body[-1][1:]), "big") != _crc24(data):
        raise ValueError("armour checksum does not match")
    tags = [(tag, packet) for tag, packet in _packets(data)]
    *keys, (last, _) = tags
    if last not in ENCRYPTED_DATA_TAGS or not keys:
        raise ValueError("no encrypted data")
    if any(tag not in SESSION_KEY_TAGS for tag, _ in keys):
        raise ValueError("unexpected packet before the encrypted data")
    return [packet[1:9].hex().upper() for tag, packet in keys if tag == 1 and packet[0] == 3]


class Block(NamedTuple):
    """One armoured block in a file: where it is, its indentation, its text without it.
    (A NamedTuple: detect-secrets loads this file without registering it as a module, which
    dataclasses need.)"""

    start: int
    end: int
    pad: str
    armour: str


def blocks(text: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(text):
        pad = match["pad"]
        inner = "".join(line[len(pad) :] + "\n" for line in match["body"].splitlines())
        found.append(Block(match.start(), match.end(), pad, f"{BEGIN}\n{inner}{END}\n"))
    return found


def encrypted_body_lines(text: str) -> set[str]:
    """The body lines of every block in `text` that is a real encrypted message."""
    lines: set[str] = set()
    for block in blocks(text):
        try:
            message_recipients(block.armour)
        except ValueError:
            continue
        lines.update(line.strip() for line in block.armour.splitlines()[1:-1] if line.strip())
    return lines


def is_encrypted_armour(filename: str, secret: str) -> bool:
    """detect-secrets filter (`--filter file://scripts/pillar_secret.py::is_encrypted_armour`):
    a string flagged inside a PGP block that really is an encrypted message is no clear-text
    secret. Anything else, armour-shaped or not, is still reported."""
    try:
        text = Path(filename).read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return any(secret in line for line in encrypted_body_lines(text))


# --- gpg ---------------------------------------------------------------------------------------


def gpg(*args: str, stdin: str = "") -> str:
    argv = ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args]
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SecretError(f"gpg {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def key_ids(key: str) -> set[str]:
    """The ids of `key`'s primary key and subkeys in the keyring."""
    listing = gpg("--with-colons", "--list-keys", key)
    return {
        f[4] for f in (line.split(":") for line in listing.splitlines()) if f[0] in ("pub", "sub")
    }


def encrypt(recipient: str, value: str) -> str:
    return gpg(
        "--armor", "--trust-model", "always", "--encrypt", "--recipient", recipient, stdin=value
    )


def as_block_scalar(armour: str, indent: int) -> str:
    """`|` and the armour indented by `indent`; empty lines stay empty (no trailing spaces)."""
    pad = " " * indent
    lines = [pad + line if line else "" for line in armour.rstrip("\n").splitlines()]
    return "|\n" + "\n".join(lines) + "\n"


def decrypt(armour: str, where: str) -> str:
    try:
        return gpg("--decrypt", stdin=armour)
    except SecretError as exc:
        raise SecretError(f"{where}: cannot decrypt: {exc}") from exc


# --- files -------------------------------------------------------------------------------------


def secret_files(root: Path, env: str) -> list[Path]:
    if env not in ENVIRONMENTS:
        raise SecretError(f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    return sorted((root / env).glob("*.sls"))


def check_file(path: Path, wanted: set[str]) -> list[str]:
    """Problems of one secret file: its header, and each block's encryption and recipients."""
    text = path.read_text()
    if not text.startswith("#!yaml|gpg\n"):
        return [f"{path}: does not start with '#!yaml|gpg'"]
    problems = []
    found = blocks(text)
    if not found:
        problems.append(f"{path}: holds no PGP block")
    for block in found:
        line = text.count("\n", 0, block.start) + 1
        try:
            recipients = set(message_recipients(block.armour))
        except ValueError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        if wanted and not recipients & wanted:
            problems.append(
                f"{path}:{line}: encrypted to {', '.join(sorted(recipients)) or 'no public key'}, "
                f"not to the environment's key ({', '.join(sorted(wanted))})"
            )
    return problems


def rotate_text(text: str, recipient: str, where: str) -> str:
    """`text` with every block decrypted and encrypted again to `recipient`, layout kept."""
    parts, pos = [], 0
    for block in blocks(text):
        value = decrypt(block.armour, where)
        armour = encrypt(recipient, value).rstrip("\n")
        parts.append(text[pos : block.start])
        parts.append("\n".join(block.pad + line if line else "" for line in armour.splitlines()))
        pos = block.end
    parts.append(text[pos:])
    return "".join(parts)


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, path.stat().st_mode & 0o777)
    os.replace(handle.name, path)


# --- commands ----------------------------------------------------------------------------------


def cmd_encrypt(args: argparse.Namespace) -> int:
    value = sys.stdin.read()
    if not value:
        raise SecretError("nothing on stdin to encrypt")
    sys.stdout.write(as_block_scalar(encrypt(args.recipient, value), args.indent))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """A master key without passphrase (the master decrypts unattended); prints its fingerprint
    and the public key, which operators import to encrypt."""
    gpg("--quick-generate-key", args.uid, "future-default", "default", "never")
    listing = gpg("--with-colons", "--list-keys", args.uid)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    print(f"fingerprint {fingerprint}", file=sys.stderr)
    sys.stdout.write(gpg("--armor", "--export", fingerprint))
    return 0


def cmd_escrow(args: argparse.Namespace) -> int:
    """The private key, encrypted to each escrow holder: any one of them can restore it."""
    secret = gpg("--armor", "--export-secret-keys", args.key)
    if not secret:
        raise SecretError(
            f"no secret key {args.key!r} in {os.environ.get('GNUPGHOME', '~/.gnupg')}"
        )
    recipients = [item for holder in args.to for item in ("--recipient", holder)]
    escrowed = gpg("--armor", "--trust-model", "always", "--encrypt", *recipients, stdin=secret)
    Path(args.out).write_text(escrowed)
    Path(args.out).chmod(0o600)
    print(f"escrowed {args.key} to {', '.join(args.to)} in {args.out}", file=sys.stderr)
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    """Every secret file of ENV re-encrypted to the new key. All files are decrypted and
    re-encrypted in memory first: a file that fails leaves every file as it was."""
    files = secret_files(Path(args.root), args.env)
    if not files:
        raise SecretError(f"no secret files under {Path(args.root) / args.env}")
    old = key_ids(args.old)
    key_ids(args.to)  # the new public key must be in the keyring before anything is decrypted
    problems = [problem for path in files for problem in check_file(path, old)]
    if problems:
        raise SecretError("\n".join(problems))
    rotated = {path: rotate_text(path.read_text(), args.to, str(path)) for path in files}
    problems = [p for path, text in rotated.items() for p in _check_rotated(path, text, args.to)]
    if problems:
        raise SecretError("\n".join(problems))
    for path, text in rotated.items():
        write_atomically(path, text)
        print(f"rotated {path}", file=sys.stderr)
    return 0


def _check_rotated(path: Path, text: str, key: str) -> list[str]:
    wanted = key_ids(key)
    found = [set(message_recipients(block.armour)) for block in blocks(text)]
    return [f"{path}: a block is not encrypted to {key}" for ids in found if not ids & wanted]


def cmd_check(args: argparse.Namespace) -> int:
    files = secret_files(Path(args.root), args.env)
    wanted = key_ids(args.key)
    problems = [problem for path in files for problem in check_file(path, wanted)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"{len(files)} secret files of {args.env} checked, {len(problems)} problems",
        file=sys.stderr,
    )
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pillar-secret", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    enc = commands.add_parser("encrypt", help="encrypt stdin as a YAML block scalar")
    enc.add_argument("recipient")
    enc.add_argument("--indent", type=int, default=6)
    enc.set_defaults(func=cmd_encrypt)
    gen = commands.add_parser("keygen", help="make an environment's master key")
    gen.add_argument("uid", help="e.g. salt-prod@fluxora.example")
    gen.set_defaults(func=cmd_keygen)
    esc = commands.add_parser("escrow", help="export the master key encrypted to escrow holders")
    esc.add_argument("key")
    esc.add_argument("--to", action="append", required=True)
    esc.add_argument("--out", required=True)
    esc.set_defaults(func=cmd_escrow)
    for name, func, help_text in (
        ("rotate", cmd_rotate, "re-encrypt every secret file of ENV to a new key"),
        ("check", cmd_check, "every secret file of ENV holds only blocks for KEY"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("env")
        sub.add_argument("--root", default=str(SECRETS_ROOT))
        if name == "rotate":
            sub.add_argument("--from", dest="old", required=True)
            sub.add_argument("--to", required=True)
        else:
            sub.add_argument("--key", required=True)
        sub.set_defaults(func=func)
    return top


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SecretError as exc:
        print(f"pillar-secret: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
