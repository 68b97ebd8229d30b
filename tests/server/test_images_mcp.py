"""Pictures over MCP: image content in run_code's result, originals of shrunk pictures as resources."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import BlobResourceContents, ImageContent, ResourceLink, TextContent

from codemode.models import ExecutionLimits
from codemode.server import ServerSettings, create_server
from tests.test_images import PNG_MAKER

pytestmark = pytest.mark.anyio


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_run_code_returns_a_picture_as_image_content(client: Client):
    await client.call_tool("run_code", {"code": PNG_MAKER})
    called = await client.call_tool("run_code", {"code": "Picture(6, 4)"})
    text, image = called.content
    assert isinstance(text, TextContent) and "image/png 6x4" in text.text
    assert isinstance(image, ImageContent) and image.mime_type == "image/png"
    assert _png_size(base64.b64decode(image.data)) == (6, 4)
    assert called.structured_content["images"] == [  # type: ignore[index]
        {"mime_type": "image/png", "width": 6, "height": 4, "full_size_uri": None}
    ]


async def test_the_original_of_a_picture_too_large_to_send_is_a_resource(workspace: Path):
    settings = ServerSettings(base=workspace, timeout=10, limits=ExecutionLimits(image_max_bytes=4096))
    async with Client(create_server(settings)) as client:
        await client.call_tool("run_code", {"code": PNG_MAKER})
        called = await client.call_tool("run_code", {"code": "Picture(100, 100, noisy=True)"})
        links = [block for block in called.content if isinstance(block, ResourceLink)]
        assert len(links) == 1 and not any(isinstance(block, ImageContent) for block in called.content)
        read = await client.read_resource(str(links[0].uri))
    [contents] = read.contents
    assert isinstance(contents, BlobResourceContents) and contents.mime_type == "image/png"
    assert _png_size(base64.b64decode(contents.blob)) == (100, 100)


async def test_an_image_resource_of_an_unknown_session_is_not_found(client: Client):
    with pytest.raises(MCPError, match="no open session with id 'no-such-session'"):
        await client.read_resource("session-image://no-such-session/1")


@pytest.mark.slow
async def test_a_matplotlib_figure_comes_back_shrunk_with_its_original_linked(workspace: Path):
    # Real matplotlib (and Pillow, its dependency) from PyPI, in the session's venv.
    settings = ServerSettings(base=workspace, timeout=120, limits=ExecutionLimits(image_max_edge=200))
    async with Client(create_server(settings)) as client:
        added = await client.call_tool("add_dep", {"package": "matplotlib"})
        assert not added.is_error, added.content
        await client.call_tool("reset_session", {"hard": True})  # a fresh worker sees the new packages
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('three points')\nplt.show()"
        called = await client.call_tool("run_code", {"code": code})
        assert not called.is_error, called.content
        images = [block for block in called.content if isinstance(block, ImageContent)]
        links = [block for block in called.content if isinstance(block, ResourceLink)]
        assert len(images) == 1 and len(links) == 1
        assert max(_png_size(base64.b64decode(images[0].data))) <= 200
        original = (await client.read_resource(str(links[0].uri))).contents[0]
        assert isinstance(original, BlobResourceContents)
        assert max(_png_size(base64.b64decode(original.blob))) > 200
        # plt.show() closed the figure: the next run has no picture
        again = await client.call_tool("run_code", {"code": "1"})
        assert not any(isinstance(block, ImageContent) for block in again.content)
