"""A plugin whose register_mcp_tools hook raises: reported, the server still starts."""

from lanterna import hookimpl


@hookimpl
def register_mcp_tools(register):
    raise RuntimeError("broken tool registration")
