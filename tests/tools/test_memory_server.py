"""A server nobody here wrote: ``@modelcontextprotocol/server-memory``, started with ``npx -y`` from an
``mcpServers`` entry, as a Claude Desktop user has it.

Needs Node.js and npx: without them these tests are skipped, saying why; with CODEMODE_REQUIRE_NODE=1
(CI) that is a failure. The package is fetched once (npx keeps it in its cache, ~/.npm/_npx).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode import Session
from tests.npm import npx_with
from tests.tools.conftest import mcp_config

pytestmark = pytest.mark.anyio

# Pinned, so that the tests see the tools they were written against; CODEMODE_MEMORY_SERVER_VERSION picks another.
MEMORY = f"@modelcontextprotocol/server-memory@{os.environ.get('CODEMODE_MEMORY_SERVER_VERSION', '2026.8.31')}"


@pytest.fixture(scope="module")
def npx() -> str:
    """npx, with the memory server in its cache (it exits when its stdin ends)."""
    return npx_with(MEMORY)


@pytest.fixture
async def session(npx: str, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Session]:
    """A session with the memory server as Claude Desktop's config declares it (``npx``: it is in the cache)."""
    entry = {"command": "npx", "args": ["-y", MEMORY], "env": {"MEMORY_FILE_PATH": "${TEST_MEMORY_FILE}"}}
    config = mcp_config(tmp_path / "claude_desktop_config.json", {"memory": entry})
    monkeypatch.setenv("TEST_MEMORY_FILE", str(tmp_path / "memory.jsonl"))
    async with Session.from_base(workspace, timeout=120, mcp_config=config) as started:
        yield started


async def test_code_creates_and_finds_entities_in_the_memory_server(session: Session, tmp_path: Path):
    ada = {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}
    created = await session.run(f"tools.memory.create_entities(entities=[{ada!r}])")
    assert created.error_info is None, created.error_info
    assert created.value == {"entities": [ada]}
    found = await session.run("tools.memory.search_nodes(query='Ada')['entities'][0]['observations']")
    assert found.value == ["wrote the first program"]
    assert "Ada" in (tmp_path / "memory.jsonl").read_text()  # ${TEST_MEMORY_FILE} reached the server's env


async def test_search_finds_memorys_create_entities_with_its_signature(session: Session):
    (entry,) = await session.search_tools("create an entity", limit=1)
    assert entry.name == "memory"
    (found,) = entry.callables
    assert (found.name, found.signature) == ("create_entities", "create_entities(*, entities: list[dict]) -> dict")


async def test_the_memory_servers_tools_read_as_python(session: Session):
    helped = (await session.run("help(tools.memory.create_entities)")).stdout
    assert "create_entities(*, entities: list[dict]) -> dict" in helped
    assert "each item: {name: str, entityType: str, observations: list[str]}" in helped
    refused = await session.run("tools.memory.open_nodes(names=5)")
    assert refused.error_info is not None and refused.error_info.type == "ToolFailed"
    assert "memory.open_nodes" in refused.error_info.message and "expected array" in refused.error_info.message
