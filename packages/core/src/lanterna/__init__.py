"""Lanterna: pluggable context memory for AI coding assistants.

Plugin authors need only ``hookimpl`` from here; everything else lives in
``lanterna.types`` (the objects hooks receive and return).
"""

import pluggy

__version__ = "0.1.0"

#: The plugin API this core speaks. A plugin module may declare
#: ``LANTERNA_PLUGIN_API = 1``; a version the core does not support is reported, not loaded.
PLUGIN_API_VERSION = 1

hookimpl = pluggy.HookimplMarker("lanterna")

__all__ = ["PLUGIN_API_VERSION", "__version__", "hookimpl"]
