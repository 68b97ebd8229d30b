"""Tools declared in YAML (CLI recipes, HTTP endpoints, MCP servers) and their registry."""
