"""Channel credentials are stored encrypted; the key lives outside the database.

Fernet gives authenticated encryption; MultiFernet lets an operator rotate: put the new key
first in WAYBILL_SECRET_KEY, keep the old ones after it, and old tokens still decrypt.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_KEY_ENV = "WAYBILL_SECRET_KEY"
KEY_FILENAME = "secret.key"


class SecretKeyError(Exception):
    """The configured key is malformed, or a token was made with a key we no longer have."""


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("at least one key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError) as exc:
            # Never echo the key material itself.
            raise SecretKeyError(f"{SECRET_KEY_ENV} must be url-safe base64 Fernet keys") from exc

    @classmethod
    def from_env(cls, data_dir: Path, environ: dict[str, str] | None = None) -> SecretBox:
        """Keys from WAYBILL_SECRET_KEY (comma-separated, first encrypts), else `data_dir/secret.key`."""
        raw = (environ if environ is not None else os.environ).get(SECRET_KEY_ENV, "")
        keys = [part.strip().encode() for part in raw.split(",") if part.strip()]
        if keys:
            return cls(keys)
        _key_file(data_dir)
        return cls(read_key_file(data_dir / KEY_FILENAME))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise SecretKeyError("credentials were encrypted with a key that is not configured") from exc
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise SecretKeyError("decrypted credentials are not an object")
        return value

    def rotate(self, token: str) -> str:
        """Re-encrypts a token under the first key (for a rotation sweep)."""
        return self._fernet.rotate(token.encode()).decode()

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"


def _key_file(data_dir: Path) -> bytes:
    """The embedded default: a key made on first run, readable by the owner only.

    Written to a temporary file, then linked into place: two processes starting at once agree
    on one key (the loser reads the winner's) and nobody ever reads a half-written file.
    """
    path = data_dir / KEY_FILENAME
    if path.exists():
        return _read_key(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{KEY_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise SecretKeyError(f"{path} is empty")
    return key


def read_key_file(path: Path) -> list[bytes]:
    """One key per line, the first encrypts: `waybill rotate-secret-key` keeps the old one below while it sweeps."""
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise SecretKeyError(f"{path} is empty")
    return keys


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replaces the key file atomically (never half-written), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"\n".join(keys) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_installed: SecretBox | None = None


def install_secret_box(box: SecretBox | None) -> None:
    """Set by `init_db` so repositories built without an explicit box (a bare unit of work) find one."""
    global _installed
    _installed = box


def installed_secret_box() -> SecretBox:
    if _installed is None:
        raise SecretKeyError("no SecretBox installed: call init_db() or pass one explicitly")
    return _installed
