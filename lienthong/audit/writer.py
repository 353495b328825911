"""The single audit writer: callers append entries, one task writes them in group commits.

While one transaction is being written, new entries pile up and go into the next one, so the number
of transactions adapts to the load (one per poll batch of the bus, not one per record).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Sequence

from lienthong.audit.record import AuditEntry
from lienthong.audit.store import AuditStore, open_store
from lienthong.metrics import AUDIT_APPENDED, AUDIT_LAG


class AuditCipher:
    """AES-256-GCM for optional audit bodies; the key comes from `LIENTHONG_AUDIT_ENCRYPTION_KEY`."""

    def __init__(self, key_b64: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = base64.b64decode(key_b64)
        if len(key) != 32:
            raise ValueError("LIENTHONG_AUDIT_ENCRYPTION_KEY must be base64 of 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, body: bytes) -> str:
        """Base64 of nonce || ciphertext."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, body, None)).decode()

    def decrypt(self, text: str) -> bytes:
        """The body back (for an operator holding the key)."""
        raw = base64.b64decode(text)
        return bytes(self._aead.decrypt(raw[:12], raw[12:], None))


class AuditWriter:
    """Owns a store; `append()` returns once the entries are durable in the chain."""

    def __init__(self, store: AuditStore, *, batch_max: int = 2000, cipher: AuditCipher | None = None) -> None:
        self.store = store
        self.batch_max = batch_max
        self.cipher = cipher
        self._pending: list[tuple[list[tuple[AuditEntry, str]], asyncio.Future[int]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.appended = 0
        """Records made durable by this writer (for metrics and summaries)."""

    @classmethod
    async def from_dsn(cls, dsn: str, *, batch_max: int = 2000, encryption_key: str = "") -> AuditWriter:
        """Open the store behind `dsn` and start a writer on it."""
        store = open_store(dsn)
        await store.open()
        writer = cls(store, batch_max=batch_max, cipher=AuditCipher(encryption_key) if encryption_key else None)
        writer.start()
        return writer

    def start(self) -> None:
        """Start the writing task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def append(self, entries: Sequence[AuditEntry]) -> int:
        """Append entries; returns the last sequence number once they are committed."""
        if not entries:
            return 0
        if self._task is None or self._task.done():
            raise RuntimeError("audit writer is not running")
        enc = self.cipher
        items = [(e, enc.encrypt(e.body) if (enc and e.body is not None) else "") for e in entries]
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((items, fut))
        AUDIT_LAG.inc(len(items))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            # However the task ends (cancelled, crashed), nobody may wait forever for a commit.
            for _, fut in self._pending:
                if not fut.done():
                    fut.set_exception(RuntimeError("audit writer stopped before committing these records"))
            self._pending.clear()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                group: list[tuple[list[tuple[AuditEntry, str]], asyncio.Future[int]]] = []
                size = 0
                while self._pending and (not group or size + len(self._pending[0][0]) <= self.batch_max):
                    items, fut = self._pending.pop(0)
                    group.append((items, fut))
                    size += len(items)
                try:
                    last = await self.store.append([it for items, _ in group for it in items])
                except Exception as exc:
                    AUDIT_LAG.dec(size)
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.appended += size
                AUDIT_LAG.dec(size)
                AUDIT_APPENDED.inc(size)
                for _, fut in group:
                    if not fut.done():
                        fut.set_result(last)
            if self._closing:
                return

    async def close(self) -> None:
        """Write what is pending, stop the task, close the store."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.store.close()
