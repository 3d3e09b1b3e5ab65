"""Test plugins for the Lanterna MCP server."""
