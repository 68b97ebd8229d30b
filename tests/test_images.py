"""Pictures of a run: objects with _repr_png_ and friends, display(), bounds, originals kept by the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemode import Session
from codemode.errors import NotFound
from codemode.models import ExecutionLimits

pytestmark = pytest.mark.anyio

# A real PNG written with zlib and struct only, so these tests need no image package.
PNG_MAKER = """
import os, struct, zlib

def png(width, height, noisy=False):
    def row():
        return b"\\x00" + (os.urandom(3 * width) if noisy else b"\\x20\\x80\\xff" * width)
    raw = b"".join(row() for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

class Picture:
    def __init__(self, width, height, noisy=False):
        self.width, self.height, self.noisy = width, height, noisy
    def _repr_png_(self):
        return png(self.width, self.height, self.noisy)

class Drawing:
    def _repr_svg_(self):
        return '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
"""


async def test_a_last_value_with_repr_png_comes_back_as_a_png(session: Session):
    await session.run(PNG_MAKER)
    result = await session.run("Picture(10, 20)")
    [image] = result.images
    assert (image.mime_type, image.width, image.height) == ("image/png", 10, 20)
    assert image.data is not None and image.data.startswith(b"\x89PNG")
    assert image.full_size_uri is None  # within the bounds: nothing was shrunk


async def test_display_shows_several_pictures_in_order(session: Session):
    await session.run(PNG_MAKER)
    result = await session.run("display(Picture(3, 2), Picture(4, 4))\nPicture(5, 5)")
    assert [(image.width, image.height) for image in result.images] == [(3, 2), (4, 4), (5, 5)]


async def test_a_displayed_last_value_is_shown_once(session: Session):
    await session.run(PNG_MAKER)
    result = await session.run("p = Picture(3, 2)\ndisplay(p)\np")
    assert len(result.images) == 1


async def test_svg_comes_back_with_its_mime_type(session: Session):
    await session.run(PNG_MAKER)
    [image] = (await session.run("Drawing()")).images
    assert image.mime_type == "image/svg+xml"
    assert image.data is not None and image.data.startswith(b"<svg")


async def test_display_of_something_that_is_not_a_picture_says_what_is(session: Session):
    result = await session.run("display(42)")
    assert result.error_info is not None and result.error_info.type == "TypeError"
    assert "_repr_png_" in result.error_info.message and "int" in result.error_info.message


async def test_runs_without_pictures_import_no_image_library(session: Session):
    await session.run("x = [1, 2, 3]\nx")
    result = await session.run("import sys\nsorted(m for m in ('matplotlib', 'PIL') if m in sys.modules)")
    assert result.value == []
    assert result.images == []


async def test_pictures_are_not_in_the_json_of_the_result(session: Session):
    await session.run(PNG_MAKER)
    result = await session.run("Picture(2, 2)")
    dumped = result.model_dump(mode="json")
    assert dumped["images"] == [{"mime_type": "image/png", "width": 2, "height": 2, "full_size_uri": None}]


async def test_a_picture_over_the_byte_bound_links_its_original(workspace: Path):
    # No Pillow in this venv: the picture cannot shrink, so only its original (kept by the session) is linked.
    limits = ExecutionLimits(image_max_bytes=4096)
    async with Session.from_base(workspace, limits=limits) as session:
        await session.run(PNG_MAKER)
        result = await session.run("Picture(100, 100, noisy=True)")
        [image] = result.images
        assert image.data is None and image.full_size_uri is not None
        assert any("could not be shrunk" in note for note in result.notes)
        original = session.get_image(image.full_size_uri)
        assert (original.width, original.height) == (100, 100)
        assert original.data is not None and len(original.data) > 4096


async def test_an_image_uri_of_another_session_is_not_found(session: Session):
    with pytest.raises(NotFound):
        session.get_image("session-image://someone-else/1")


async def test_the_in_process_executor_returns_pictures_too(workspace: Path):
    async with Session.from_base(workspace, executor="inprocess") as session:
        await session.run(PNG_MAKER)
        result = await session.run("display(Picture(3, 3))")
        assert [(image.mime_type, image.width) for image in result.images] == [("image/png", 3)]
