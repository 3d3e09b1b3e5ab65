"""Errors the user can act on.

Raise a ``UserError`` (or a subclass) whose message is one line saying what is wrong and what
to do. The MCP server sends that line to the client as the tool's error text, the CLI prints it
as ``lanterna: <line>`` and exits 1, and neither counts it as a plugin failure: a user's mistake
is not a broken plugin. Any other exception is a failure: it is logged and counted.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; ``str()`` is the one line they see. It must hold no secret."""
