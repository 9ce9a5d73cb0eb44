"""A small asyncio WebSocket client (RFC 6455, text frames) for tests and benchmarks.

The virtualenv has no WebSocket client package; this is enough to talk JSON to a real Daphne:
the opening handshake with an Origin and a session cookie, masked client frames, unmasked
server frames (fragmented or not), pings answered, close frames reported with their code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import struct
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x8, 0x9, 0xA, 0x0


class Refused(Exception):
    """The server answered the handshake with something other than 101."""


class Closed(Exception):
    """The server closed the socket; `code` is its close code (None if it just hung up)."""

    def __init__(self, code: int | None):
        super().__init__(code)
        self.code = code


class WebSocket:
    """One open client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def send_json(self, value) -> None:
        await self._send(TEXT, json.dumps(value).encode())

    async def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def _frame(self) -> tuple[bool, int, bytes]:
        try:
            first, second = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            raise Closed(None) from None
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await self.reader.readexactly(length)
        return bool(first & 0x80), first & 0x0F, payload

    async def receive_json(self, timeout: float | None = None):
        """The next text message, decoded; raises Closed when the server closes."""
        return json.loads(await asyncio.wait_for(self._message(), timeout))

    async def _message(self) -> bytes:
        parts: list[bytes] = []
        while True:
            fin, opcode, payload = await self._frame()
            if opcode == PING:
                await self._send(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code)
            parts.append(payload)
            if fin:
                return b"".join(parts)

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(CLOSE, struct.pack("!H", 1000))
        self.writer.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.writer.wait_closed()


async def connect(url: str, *, origin: str = "", cookie: str = "") -> WebSocket:
    """Open ws://host:port/path; raises Refused when the server does not upgrade."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port or 80}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status = (await reader.readline()).decode(errors="replace")
    headers = {}
    while True:
        line = (await reader.readline()).decode(errors="replace").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if " 101 " not in status or headers.get("sec-websocket-accept") != expected:
        writer.close()
        raise Refused(status.strip())
    return WebSocket(reader, writer)
