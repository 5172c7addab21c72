"""``MailArchive``: the demo mail sink's store, one ``.eml`` file per Message-ID in a directory.

Files are written atomically (a temporary file, then a hard link to the final name, which
fails if the name exists), so a reader never sees half a message and two deliveries of one
Message-ID — a notification re-sent after a crash — leave exactly one file: the first.
The sink prepends trace fields as a final delivery does (RFC 5321 §4.4): ``Return-Path``,
one ``Delivered-To`` per envelope recipient, and ``X-Bazaar-Received-At`` (ISO 8601, UTC).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

__all__ = ["RECEIVED_AT_HEADER", "MailArchive", "ReceivedMail"]

RECEIVED_AT_HEADER = "X-Bazaar-Received-At"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One stored message, as the admin API shows it (headers only, no body)."""

    to: str
    subject: str
    message_id: str
    received_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _parse_headers(raw: bytes) -> Message:
    return BytesHeaderParser(policy=default_policy).parsebytes(raw)


class MailArchive:
    """Reads and writes the messages under ``directory`` (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, message_id: str) -> Path:
        """The file of ``message_id``: readable prefix + hash (file-system safe, unique)."""
        key = message_id.strip()
        readable = _UNSAFE.sub("_", key.strip("<>"))[:80].strip("._") or "message"
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        return self.directory / f"{readable}.{digest}.eml"

    def save(
        self,
        raw: bytes,
        *,
        recipients: Sequence[str],
        sender: str | None,
        received_at: datetime,
    ) -> bool:
        """Store one received message; False (and nothing written) when its Message-ID is here.

        A message without a Message-ID is keyed by the hash of its bytes.

        Raises:
            OSError: the directory or the file could not be written.
        """
        message_id = str(_parse_headers(raw).get("Message-ID", "")).strip()
        if not message_id:
            message_id = "<sha256-" + hashlib.sha256(raw).hexdigest() + "@mail-sink>"
        final = self.path_for(message_id)
        if final.exists():
            return False
        newline = b"\r\n" if b"\r\n" in raw else b"\n"
        trace = [f"Return-Path: <{_one_line(sender or '')}>"]
        trace += [f"Delivered-To: {_one_line(r)}" for r in recipients]
        trace.append(f"{RECEIVED_AT_HEADER}: {received_at.astimezone(UTC).isoformat()}")
        data = newline.join(line.encode("utf-8") for line in trace) + newline + raw
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                # link() refuses an existing name: of two racing copies, the first one wins.
                os.link(tmp, final)
            except FileExistsError:
                return False
            except OSError:
                # No hard links on this file system: rename (a racing copy may replace an
                # identical one; there is still one file per Message-ID).
                if final.exists():
                    return False
                os.replace(tmp, final)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, to: str | None = None) -> builtins.list[ReceivedMail]:
        """Every stored message, oldest first; with ``to``, those addressed to it.

        ``to`` matches an address of ``To``, ``Cc`` or ``Delivered-To``, ignoring case.
        """
        if not self.directory.is_dir():
            return []
        wanted = to.strip().lower() if to else None
        found: builtins.list[ReceivedMail] = []
        for path in self.directory.glob("*.eml"):
            with contextlib.suppress(FileNotFoundError):
                mail = self._read(path, wanted)
                if mail is not None:
                    found.append(mail)
        found.sort(key=lambda m: (m.received_at, m.message_id))
        return found

    def read(self, message_id: str) -> EmailMessage | None:
        """The whole stored message (body included), or None."""
        path = self.path_for(message_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        parsed = BytesParser(policy=default_policy).parsebytes(data)
        assert isinstance(parsed, EmailMessage)  # policy.default builds EmailMessage objects
        return parsed

    def _read(self, path: Path, wanted: str | None) -> ReceivedMail | None:
        with path.open("rb") as stream:
            message = BytesHeaderParser(policy=default_policy).parse(stream)
        if wanted is not None:
            values = [str(v) for name in _RECIPIENT_HEADERS for v in message.get_all(name, [])]
            addresses = {address.lower() for _, address in getaddresses(values)}
            if wanted not in addresses:
                return None
        headers: dict[str, str] = {}
        for name, value in message.items():
            text = str(value)
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        delivered = ", ".join(str(v) for v in message.get_all("Delivered-To", []))
        return ReceivedMail(
            to=str(message.get("To", "")) or delivered,
            subject=str(message.get("Subject", "")),
            message_id=str(message.get("Message-ID", "")).strip(),
            received_at=_received_at(message, path),
            headers=headers,
        )


def _received_at(message: Message, path: Path) -> datetime:
    stamp = message.get(RECEIVED_AT_HEADER)
    if stamp is not None:
        try:
            parsed = datetime.fromisoformat(str(stamp).strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
