"""Entitlements from the environment: TESTPLUG_PLAN_STATE=valid|grace|expired."""

import os

from lanterna import hookimpl
from lanterna.types import Plan


@hookimpl
def active_plan(request):
    state = os.environ.get("TESTPLUG_PLAN_STATE", "valid")
    return Plan(
        tier="pro",
        features=frozenset({"insights"}),
        limits={"operations_per_day": 1000},
        state=state,
        source="testplug-pro-plan",
    )
