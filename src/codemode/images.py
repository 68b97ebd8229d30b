"""Pictures a run returns, and the full-size originals a session keeps for a while.

The worker draws and bounds pictures (:mod:`codemode.worker.display`): decoding
and shrinking untrusted image bytes happens in the sandboxed worker, with the
Pillow of the session's venv, and the server needs no image library at all.
A picture that had to shrink arrives with its original, which the session keeps
(the newest few, in memory) under a ``session-image://{session_id}/{image_id}`` URI.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

from pydantic import Field, PrivateAttr

from codemode.errors import NotFound
from codemode.record import Record

IMAGE_SCHEME = "session-image://"
MAX_KEPT_IMAGES = 32
MAX_KEPT_BYTES = 128 * 1024 * 1024


class Image(Record):
    """One picture of a run: a matplotlib figure, a PIL image, an object with ``_repr_png_`` ..."""

    mime_type: str = Field(description="image/png, image/jpeg or image/svg+xml.")
    data: bytes | None = Field(
        default=None,
        exclude=True,  # sent as MCP image content, not inside the JSON
        repr=False,
        description="The picture within the size bounds; None if it could not be shrunk (see full_size_uri).",
    )
    width: int | None = Field(default=None, description="Width in pixels of data (None for SVG).")
    height: int | None = Field(default=None, description="Height in pixels of data (None for SVG).")
    full_size_uri: str | None = Field(
        default=None,
        description="Where the original is, when data is a shrunk copy: an MCP resource of the session "
        "(Session.get_image() in the library). Kept for the session's newest pictures only.",
    )
    _full: Image | None = PrivateAttr(default=None)

    @property
    def full(self) -> Image | None:
        """The original, until the session has kept it (then see ``full_size_uri``)."""
        return self._full


def images_from_wire(items: Any) -> list[Image]:
    """The worker's picture dicts (bytes already restored by ``protocol.from_wire``) as models."""
    images = []
    for item in items or ():
        image = _one(item)
        full = item.get("full")
        if full:
            image._full = _one(full)
        images.append(image)
    return images


def _one(item: dict[str, Any]) -> Image:
    return Image(
        mime_type=str(item["mime_type"]), data=item.get("data"), width=item.get("width"), height=item.get("height")
    )


def image_uri(session_id: str, image_id: str) -> str:
    return f"{IMAGE_SCHEME}{session_id}/{image_id}"


def parse_image_uri(uri: str) -> tuple[str, str]:
    """``(session_id, image_id)`` of a ``session-image://`` URI; ``NotFound`` if it is not one."""
    session_id, _, image_id = uri.removeprefix(IMAGE_SCHEME).partition("/")
    if not uri.startswith(IMAGE_SCHEME) or not session_id or not image_id:
        raise NotFound(f"{uri!r} is not an image URI: they look like {IMAGE_SCHEME}<session_id>/<image_id>")
    return session_id, image_id


class ImageStore:
    """A session's full-size pictures: the newest ``max_count``, at most ``max_bytes`` in all."""

    def __init__(self, session_id: str, max_count: int = MAX_KEPT_IMAGES, max_bytes: int = MAX_KEPT_BYTES) -> None:
        self._session_id = session_id
        self._images: OrderedDict[str, Image] = OrderedDict()
        self._ids = itertools.count(1)
        self._max_count = max_count
        self._max_bytes = max_bytes
        self._bytes = 0

    def keep(self, image: Image) -> str:
        """Keep ``image``; its id. Older pictures go first when the store is full."""
        image_id = str(next(self._ids))
        self._images[image_id] = image
        self._bytes += len(image.data or b"")
        while len(self._images) > self._max_count or (self._bytes > self._max_bytes and len(self._images) > 1):
            _, dropped = self._images.popitem(last=False)
            self._bytes -= len(dropped.data or b"")
        return image_id

    def get(self, image_id: str) -> Image:
        image = self._images.get(image_id)
        if image is None:
            raise NotFound(
                f"no picture {image_id!r} in this session: only the newest {self._max_count} full-size pictures "
                "are kept, until the session closes"
            )
        return image

    def keep_originals(self, images: list[Image]) -> list[str]:
        """Pictures that were shrunk link to their original, kept here; notes on those too large to send."""
        notes = []
        for image in images:
            if image.full is not None:
                image.full_size_uri = image_uri(self._session_id, self.keep(image.full))
                if image.data is None:
                    notes.append(f"a picture too large to send is at {image.full_size_uri}")
        return notes

    def original(self, uri: str) -> Image:
        """The full-size original that a picture's ``full_size_uri`` names."""
        session_id, image_id = parse_image_uri(uri)
        if session_id != self._session_id:
            raise NotFound(f"{uri!r} names a picture of another session")
        return self.get(image_id)

    def __len__(self) -> int:
        return len(self._images)
