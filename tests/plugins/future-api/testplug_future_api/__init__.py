"""Written for a future plugin API."""

from lanterna import hookimpl

LANTERNA_PLUGIN_API = 99


@hookimpl
def authorize(request, action, resource):
    return None
