"""The MCP server: tools from plugins, every call through the guard."""
