"""Saves one big artifact over and over until it is killed: the writer ``test_storage_attacks`` kills.

Usage: ``artifact_writer.py file DIRECTORY FIRST`` or ``artifact_writer.py redis URL PREFIX FIRST``.
Save number ``i`` stores bytes when ``i`` is even and text when it is odd, with the
description ``"{i} {sha256 of the stored bytes}"``, so a reader can tell whether the
data and the record it finds belong together. It prints ``saving`` just before each
save and ``saved`` after it, so a killer can aim at the save itself.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sys

import anyio

from codemode.storage import FileStorage, Storage
from codemode.workspace.artifacts import ArtifactStore

NAME = "big"
MIN_BYTES, MAX_BYTES = 2 * 1024 * 1024, 8 * 1024 * 1024


def payload(number: int) -> bytes | str:
    size = random.Random(number).randint(MIN_BYTES, MAX_BYTES)
    data = random.Random(number).randbytes(size)
    return data if number % 2 == 0 else data.hex()[:size]


def stored_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def _storage(argv: list[str]) -> Storage:
    if argv[0] == "file":
        return FileStorage(argv[1])
    from codemode.storage.redis import RedisStorage

    return RedisStorage(argv[1], prefix=argv[2])


async def main(argv: list[str]) -> None:
    store = ArtifactStore(_storage(argv[:-1]), max_bytes=2 * MAX_BYTES)
    for number in itertools.count(int(argv[-1])):
        data = payload(number)
        digest = hashlib.sha256(stored_bytes(data)).hexdigest()
        print("saving", flush=True)
        await store.save(NAME, data, description=f"{number} {digest}")
        print("saved", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
