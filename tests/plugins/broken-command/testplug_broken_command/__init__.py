"""Loads fine, then raises when asked to add its CLI command."""

from lanterna import hookimpl


@hookimpl
def register_commands(cli):
    raise ValueError("cannot add command: config missing")


@hookimpl
def record_audit_event(event):
    raise OSError("audit disk full")
