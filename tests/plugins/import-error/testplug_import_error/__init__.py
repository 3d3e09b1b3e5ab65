"""Fails at import, like a plugin whose dependency is missing."""

import lanterna_dependency_that_does_not_exist  # noqa: F401
