"""A well-behaved plugin: audit sink, authorization rule, quota, a CLI command."""

import json
import os
from dataclasses import asdict
from pathlib import Path

from lanterna import hookimpl


def _log(kind, data):
    path = Path(os.environ["LANTERNA_HOME"]) / "testplug-good.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps({"kind": kind, **data}) + "\n")


@hookimpl
def authorize(request, action, resource):
    if action.startswith("forbidden."):
        return f"'{action}' is forbidden for {request.tenant} by testplug-good"
    return None


@hookimpl
def check_quota(request, action, plan):
    if action == "expensive.op":
        return "quota for expensive.op exhausted; wait until tomorrow or upgrade"
    return None


@hookimpl
def record_usage(request, event):
    _log("usage", asdict(event))


@hookimpl
def record_audit_event(event):
    _log("audit", asdict(event))


@hookimpl
def record_security_event(event):
    _log("security", {"kind_": event.kind, "severity": event.severity, "message": event.message})


@hookimpl
def register_commands(cli):
    @cli.command("greet")
    def greet(name: str = "world") -> None:
        """Say hello (added by testplug-good)."""
        print(f"hello {name} from testplug-good")
