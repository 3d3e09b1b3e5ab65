"""Hook calls follow pluggy's semantics: wrappers, firstresult from the spec, Ctrl-C passes."""

from __future__ import annotations

import pluggy
import pytest

from lanterna import hookimpl
from lanterna.guard import Denied, Guard
from lanterna.plugins import HookFailed, PerPlugin, PluginHost, get_host
from lanterna.types import Identity, RequestContext


class DenyingWrapper:
    """A new-style wrapper ``authorize`` that adds a denial after the others answered."""

    @hookimpl(wrapper=True)
    def authorize(self, request, action, resource):
        answers = yield
        return [*answers, "wrapped: nobody may delete"] if action == "memory.delete" else answers


class OldStyleWrapper:
    @hookimpl(hookwrapper=True)
    def authorize(self, request, action, resource):
        outcome = yield
        if action == "session.diff":
            outcome.force_result([*outcome.get_result(), "old-style wrapper says no"])


class Allowing:
    @hookimpl
    def authorize(self, request, action, resource):
        return None


def test_a_wrapper_authorize_that_denies_denies():
    host = get_host()
    host.register(Allowing(), "allowing")
    host.register(DenyingWrapper(), "wrapper")
    assert host.plugins[-1].status == "loaded"
    guard = Guard(host)
    with pytest.raises(Denied, match="wrapped: nobody may delete"):
        guard.run(RequestContext(transport="cli"), "memory.delete", "memory", lambda: None)
    with guard.operation(RequestContext(transport="cli"), "memory.search", "memory"):
        pass  # the wrapper lets everything else through
    assert host.call("authorize", request=RequestContext(), action="memory.delete", resource="r") == [
        ("wrapper", "wrapped: nobody may delete")
    ]


def test_an_old_style_hookwrapper_runs_too():
    host = get_host()
    host.register(OldStyleWrapper(), "old-wrapper")
    with pytest.raises(Denied, match="old-style wrapper says no"):
        Guard(host).run(RequestContext(transport="cli"), "session.diff", "repo:/x", lambda: None)


def test_a_wrapper_sees_an_implementation_error_and_the_call_names_the_implementation():
    seen: list[BaseException] = []

    class Watching:
        @hookimpl(wrapper=True)
        def authorize(self, request, action, resource):
            try:
                return (yield)
            except Exception as exc:
                seen.append(exc)
                raise

    class Broken:
        @hookimpl
        def authorize(self, request, action, resource):
            raise LookupError("policy file missing")

    host = get_host()
    host.register(Broken(), "broken")
    host.register(Watching(), "watching")
    with pytest.raises(HookFailed, match="plugin 'broken' failed in authorize: LookupError") as failure:
        host.call("authorize", request=RequestContext(), action="a", resource="r")
    assert seen == [failure.value.error]
    assert host.hook_failures[("authorize", "broken")] == 1


def test_a_raising_wrapper_is_named_and_an_isolated_call_goes_on():
    class RaisingWrapper:
        @hookimpl(wrapper=True)
        def record_usage(self, request, event):
            raise OSError("disk full")
            yield  # pragma: no cover - makes this a generator

    host = get_host()
    host.register(RaisingWrapper(), "raising-wrapper")
    assert host.call("record_usage", isolate=True, request=RequestContext(), event=None) == []
    assert host.hook_failures[("record_usage", "raising-wrapper")] == 1


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_and_exit_in_an_isolated_hook_propagate_and_are_not_failures(interrupt):
    class Interrupted:
        @hookimpl
        def record_usage(self, request, event):
            raise interrupt()

    host = get_host()
    host.register(Interrupted(), "interrupted")
    with pytest.raises(interrupt):
        host.call("record_usage", isolate=True, request=RequestContext(), event=None)
    assert host.hook_failures == {}


def test_firstresult_comes_from_the_spec():
    class Tenancy:
        @hookimpl
        def tenant_from_request(self, request):
            return Identity("acme", "ann")

    host = get_host()
    host.register(Tenancy(), "acme-tenancy")
    # tenant_from_request is declared firstresult: one answer, the plugin's, not a list
    assert host.call("tenant_from_request", request=RequestContext()) == Identity("acme", "ann")
    # authorize is not: a list of (plugin, answer)
    assert host.call("authorize", request=RequestContext(), action="a", resource="r") == []


def test_firstresult_stops_at_the_first_answer():
    calls: list[str] = []

    class First:
        @hookimpl(tryfirst=True)
        def active_plan(self, request):
            calls.append("first")
            return "plan-a"

    class Second:
        @hookimpl
        def active_plan(self, request):
            calls.append("second")
            return "plan-b"

    host = get_host()
    host.register(Second(), "second")
    host.register(First(), "first")
    assert host.call("active_plan", request=RequestContext()) == "plan-a"
    assert calls == ["first"]


def test_per_plugin_arguments_are_made_for_each_implementation():
    class Registering:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def register_embedders(self, register):
            register(self.name)

    host = PluginHost()
    host.register(Registering("a"), "plugin-a")
    host.register(Registering("b"), "plugin-b")
    seen: list[tuple[str, str]] = []
    host.call("register_embedders", register=PerPlugin(lambda plugin: lambda thing: seen.append((plugin, thing))))
    assert [item for item in seen if item[0].startswith("plugin-")] == [("plugin-b", "b"), ("plugin-a", "a")]
    assert {plugin for plugin, _ in seen} == {"plugin-a", "plugin-b", "memory"}


def test_a_raising_registration_hook_leaves_the_plugin_degraded():
    class BrokenRegistration:
        @hookimpl
        def register_embedders(self, register):
            raise ImportError("onnxruntime is missing")

    host = get_host()
    info = host.register(BrokenRegistration(), "broken-registration")
    host.call("register_embedders", isolate=True, register=lambda e: None)
    assert info.status == "degraded"
    assert info.reason == "register_embedders raised ImportError: onnxruntime is missing"
    assert info in host.failed()
    host.strict = True
    assert "1 plugin(s) failed and strict mode is on" in host.strict_violation()[-1]


def test_pluggy_call_loop_is_still_where_the_host_expects_it():
    """The host runs pluggy's own call loop through ``PluginManager._hookexec``."""
    pm = pluggy.PluginManager("probe")
    assert callable(pm._hookexec)
    assert pm._hookexec("probe", [], {}, False) == []
    assert pm._hookexec("probe", [], {}, True) is None
