"""Storage backends: where workflows, artifacts and session records live."""

from codemode.storage.base import Storage
from codemode.storage.file import FileStorage

__all__ = ["FileStorage", "Storage"]
