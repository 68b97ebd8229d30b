"""A small upstream MCP server for the code-mode benchmark: an inventory of 60 items in 6 categories.

Run by the benchmark over stdio (``python bench/inventory_server.py``); the same server serves
every approach, so the figures differ only by how the agent reaches it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

CATEGORIES = ["tools", "paint", "garden", "lighting", "plumbing", "electrical"]
ITEMS_PER_CATEGORY = 10


class Item(BaseModel):
    id: str = Field(description="The item's id.")
    name: str = Field(description="What it is.")
    category: str = Field(description="Its category.")
    stock: int = Field(description="Units in stock.")
    min_stock: int = Field(description="Restock when stock falls below this.")
    price: float = Field(description="Unit price.")


def _inventory() -> dict[str, Item]:
    items = {}
    for c, category in enumerate(CATEGORIES):
        for n in range(ITEMS_PER_CATEGORY):
            item_id = f"{category[:3]}-{n:03d}"
            stock = (n * 7 + c * 3) % 25  # deterministic: about one item in five is below its minimum
            items[item_id] = Item(
                id=item_id, name=f"{category} item {n}", category=category, stock=stock, min_stock=5, price=2.5 + n
            )
    return items


def build() -> MCPServer:
    server = MCPServer("inventory")
    inventory = _inventory()

    @server.tool()
    def list_categories() -> list[str]:
        """The inventory's categories."""
        return CATEGORIES

    @server.tool()
    def list_items(category: str) -> list[Item]:
        """Every item of a category, with its stock and the minimum below which to restock."""
        return [item for item in inventory.values() if item.category == category]

    @server.tool()
    def restock(item_id: str, quantity: int) -> Item:
        """Add quantity units of an item to the stock; returns the item."""
        item = inventory[item_id]
        item.stock += quantity
        return item

    return server


if __name__ == "__main__":
    build().run()
