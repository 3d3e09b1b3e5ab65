"""Implements authorize with an argument the spec does not have."""

from lanterna import hookimpl


@hookimpl
def authorize(request, verb):
    return None
