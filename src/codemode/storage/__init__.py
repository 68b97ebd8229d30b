"""Storage backends: where workflows, artifacts and session records live."""

from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.storage.memory import MemoryStorage

__all__ = ["FileStorage", "MemoryStorage", "Storage"]
