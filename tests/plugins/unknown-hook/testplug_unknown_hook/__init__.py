"""Implements 'authorise', a hook that does not exist."""

from lanterna import hookimpl


@hookimpl
def authorise(request, action, resource):
    return "never called"
