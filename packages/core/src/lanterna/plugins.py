"""The plugin layer: discover, load once, report failures, call hooks in isolation.

Plugins are modules (or objects) named by entry points in the ``lanterna`` group. The
core's own defaults are registered first as built-in plugins whose implementations are
``trylast``, so any installed plugin wins. A plugin that cannot be loaded is reported
with its name, distribution, version and reason; the host goes on with the rest.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import pluggy

from lanterna import PLUGIN_API_VERSION, __version__, hookspecs
from lanterna.config import Config, env_flag, env_list, load_config, state_dir
from lanterna.logsafe import redacted

ENTRY_POINT_GROUP = "lanterna"
SUPPORTED_PLUGIN_APIS = frozenset({PLUGIN_API_VERSION})
#: Built-in plugins as ``module:factory``; each factory is called with the host registering it
#: (its config is ``host.config``), so a built-in serves that host, not the process-wide one.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "lanterna.builtins.local_tenancy:LocalTenancy",
    "lanterna.builtins.session_memory:SessionMemory",
    "lanterna.memory.memory:MemoryPlugin",
)

log = logging.getLogger("lanterna.plugins")

#: ``failed``: not loaded. ``degraded``: loaded, but a registration hook raised or something it
#: registered was refused, so part of the plugin is missing.
Status = Literal["loaded", "blocked", "failed", "degraded"]
#: Hooks a plugin's setup runs through: a failure here leaves the plugin ``degraded``.
SETUP_HOOKS = frozenset(
    {"register_commands", "register_mcp_tools", "register_embedders", "register_code_sources", "startup"}
)


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    status: Status
    reason: str = ""
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False
    #: The traceback of a failed import or set-up (``lanterna plugins --verbose``).
    traceback: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HookFailed(Exception):
    """A plugin's implementation raised; ``str()`` names the plugin and the hook."""

    def __init__(self, hook: str, plugin: str, error: BaseException) -> None:
        super().__init__(
            f"plugin '{plugin}' failed in {hook}: {type(error).__name__}: {_one_line(redacted(str(error)))}"
        )
        self.hook, self.plugin, self.error = hook, plugin, error


def _traceback(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(error))


def _one_line(error: BaseException | str, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PluginHost:
    """A pluggy PluginManager plus what the CLI and the guard need to know about it."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else load_config()
        self.pm = pluggy.PluginManager("lanterna")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.hook_failures: Counter[tuple[str, str]] = Counter()
        self.trace = bool(env_flag("LANTERNA_TRACE_HOOKS"))
        strict = env_flag("LANTERNA_STRICT_PLUGINS")
        self.strict = bool(self.config.get("plugins", "strict", False) if strict is None else strict)
        self._impls: dict[str, list[pluggy.HookImpl]] = {}
        self._firstresult: dict[str, bool] = {}
        for spec in BUILTIN_PLUGINS:
            self._register_builtin(spec)
        self._load_entry_points()

    # -- loading -----------------------------------------------------------------------

    def _register_builtin(self, spec: str) -> None:
        import importlib

        module_name, _, factory = spec.partition(":")
        plugin = getattr(importlib.import_module(module_name), factory)(self)
        name = module_name.rpartition(".")[2]
        self.pm.register(plugin, name=name)
        info = PluginInfo(name, "lanterna", __version__, "loaded", hooks=self._hook_names(plugin), builtin=True)
        self.plugins.append(info)

    def _selection(self) -> tuple[list[str] | None, list[str], str, str]:
        only = env_list("LANTERNA_LOAD_PLUGINS")
        only_source = "LANTERNA_LOAD_PLUGINS"
        if only is None and "load" in self.config.section("plugins"):
            only, only_source = list(self.config.get("plugins", "load")), "[plugins] load"
        disabled = env_list("LANTERNA_DISABLE_PLUGINS")
        disabled_source = "LANTERNA_DISABLE_PLUGINS"
        if disabled is None:
            disabled, disabled_source = list(self.config.get("plugins", "disable", [])), "[plugins] disable"
        return only, disabled, only_source, disabled_source

    def _load_entry_points(self) -> None:
        only, disabled, only_source, disabled_source = self._selection()
        entry_points = discover_entry_points()
        for names, source in ((only, only_source), (disabled, disabled_source)):
            for name in _unmatched(names or [], entry_points):
                log.warning(
                    "%s names '%s', which matches no installed plugin; `lanterna plugins` lists their names",
                    source,
                    name,
                )
        seen: dict[str, str] = {}
        for ep in entry_points:
            info = PluginInfo(ep.name, ep.distribution, ep.version, "loaded")
            if ep.name in seen:
                if seen[ep.name] == info.distribution:
                    continue  # the same distribution found twice on sys.path
                self.plugins.append(info)
                self._fail(info, f"the name '{ep.name}' is already taken by {seen[ep.name]}; uninstall one of them")
                continue
            seen[ep.name] = info.distribution
            self.plugins.append(info)
            if _selects(disabled, ep):
                info.status, info.reason = "blocked", f"disabled by {disabled_source}"
            elif only is not None and not _selects(only, ep):
                info.status, info.reason = "blocked", f"not listed in {only_source}"
            else:
                self._load_one(ep, info)

    def _load_one(self, ep: EntryPoint, info: PluginInfo) -> PluginInfo:
        try:
            plugin = ep.load()
        except BaseException as exc:  # a plugin may raise anything at import, SystemExit included
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.traceback = _traceback(exc)
            return self._fail(info, f"import failed: {type(exc).__name__}: {_one_line(exc)}")
        api = getattr(plugin, "LANTERNA_PLUGIN_API", PLUGIN_API_VERSION)
        if api not in SUPPORTED_PLUGIN_APIS:
            supported = ", ".join(str(v) for v in sorted(SUPPORTED_PLUGIN_APIS))
            return self._fail(
                info,
                f"declares plugin API {api}, but lanterna {__version__} supports plugin API {supported};"
                f" install a {info.distribution} release made for it",
            )
        if isinstance(plugin, type):
            # An entry point naming a class gets an instance built with the host's config,
            # like the built-ins, so per-host state (paths, caches) follows that config.
            try:
                plugin = plugin(self.config)
            except BaseException as exc:  # SystemExit included, as at import
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info.traceback = _traceback(exc)
                return self._fail(info, f"could not be set up: {type(exc).__name__}: {_one_line(exc)}")
        return self.register(plugin, info)

    def register(self, plugin: object, info: PluginInfo | str) -> PluginInfo:
        """Register a plugin object, reporting (not raising) what is wrong with it."""
        if isinstance(info, str):
            info = PluginInfo(info, "-", "-", "loaded")
            self.plugins.append(info)
        self._impls.clear()
        try:
            self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            return self._fail(info, f"hook arguments do not match the spec: {_one_line(exc)}")
        except Exception as exc:  # noqa: BLE001 - a plugin's attributes may raise anything
            info.traceback = _traceback(exc)
            return self._fail(info, f"registration raised {type(exc).__name__}: {_one_line(exc)}")
        unknown = [hc.name for hc in self.pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            return self._fail(info, _unknown_hooks_reason(unknown))
        info.hooks = self._hook_names(plugin)
        return info

    def _hook_names(self, plugin: object) -> list[str]:
        return sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or [])

    def _fail(self, info: PluginInfo, reason: str) -> PluginInfo:
        info.status, info.reason = "failed", reason
        # INFO, not WARNING: the CLI shows failures in one summary line and long-running
        # processes (the server) report them when they start.
        log.info("plugin '%s' (%s %s) not loaded: %s", info.name, info.distribution, info.version, reason)
        if self.trace and info.traceback:
            print(f"lanterna trace: plugin '{info.name}' not loaded:\n{info.traceback.rstrip()}", file=sys.stderr)
        return info

    def degrade(self, plugin: str, reason: str) -> None:
        """Mark a loaded plugin ``degraded``: part of it (a command, a tool) is missing."""
        info = next((p for p in self.plugins if p.name == plugin), None)
        if info is None or info.status not in ("loaded", "degraded") or reason in info.reason.split("; "):
            return
        info.status, info.reason = "degraded", f"{info.reason}; {reason}" if info.reason else reason

    def failed(self) -> list[PluginInfo]:
        """Plugins that failed to load or to register part of themselves."""
        return [p for p in self.plugins if p.status in ("failed", "degraded")]

    def strict_violation(self) -> list[str]:
        """In strict mode, the lines that explain why the process must stop; else []."""
        failed = self.failed()
        if not (failed and self.strict):
            return []
        lines = [f"plugin '{p.name}' ({p.distribution} {p.version}): {p.reason}" for p in failed]
        return [*lines, f"{len(failed)} plugin(s) failed and strict mode is on; fix or uninstall them"]

    # -- calling -----------------------------------------------------------------------

    def implementations(self, hook: str) -> list[pluggy.HookImpl]:
        """HookImpls of ``hook`` in call order (pluggy's: wrappers first, tryfirst … trylast)."""
        impls = self._impls.get(hook)
        if impls is None:
            impls = list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))
            self._impls[hook] = impls
        return impls

    def call(self, hook: str, /, *, isolate: bool = False, **kwargs: Any) -> Any:
        """Call ``hook`` with pluggy's semantics, each implementation guarded on its own.

        The spec decides the result: a ``firstresult`` hook returns the first non-None
        answer (or None), any other returns ``[(plugin, result)]`` for each non-None result.
        Wrappers (``wrapper=True``, ``hookwrapper=True``) wrap the call as in pluggy. An
        implementation raising an ``Exception`` is logged and counted; with ``isolate`` the
        call goes on without it, otherwise it raises ``HookFailed`` naming the plugin.
        ``KeyboardInterrupt`` and ``SystemExit`` pass through untouched. An argument given
        as ``PerPlugin(factory)`` reaches each implementation as ``factory(plugin_name)``.
        """
        start = time.perf_counter() if self.trace else 0.0
        impls = self.implementations(hook)
        firstresult = self._firstresult.get(hook)
        if firstresult is None:
            firstresult = self._firstresult[hook] = bool(getattr(self.pm.hook, hook).spec.opts.get("firstresult"))
        call = _Call(self, hook, isolate, [name for name, value in kwargs.items() if isinstance(value, PerPlugin)])
        try:
            try:
                # pluggy's own call loop (the one ``pm.hook.<name>(...)`` uses) runs wrappers
                # and firstresult; ``tests/core/test_plugins.py`` fails if its signature moves.
                guarded = cast("list[pluggy.HookImpl]", [call.guarded(i) for i in reversed(impls)])
                outcome = self.pm._hookexec(hook, guarded, kwargs, firstresult)
            except Exception as exc:
                plugin = call.blame(exc) or call.wrappers or "lanterna"
                from lanterna.types import Refused

                if not isinstance(exc, Refused):  # a refusal is a decision, not a plugin failure
                    self.record_failure(hook, plugin, exc)
                if not isolate:
                    raise HookFailed(hook, plugin, exc) from exc
                return None if firstresult else []
            return outcome if firstresult else call.attribute(outcome)
        finally:
            if self.trace:
                names = ", ".join(i.plugin_name for i in impls) or "no implementation"
                elapsed = (time.perf_counter() - start) * 1e6
                print(f"lanterna trace: {hook} [{names}] {elapsed:.1f} µs", file=sys.stderr)

    def record_failure(self, hook: str, plugin: str, error: BaseException, *, logged: bool = False) -> None:
        """Count a hook failure and append it to the state file ``lanterna status`` reads.

        ``logged``: the caller has logged it already (with what it may show of the error).
        """
        self.hook_failures[(hook, plugin)] += 1
        message = _one_line(redacted(str(error)))  # a driver's error text can carry SQL parameters
        if hook in SETUP_HOOKS:
            self.degrade(plugin, f"{hook} raised {type(error).__name__}: {message}")
        if not logged:
            log.warning("plugin '%s' failed in %s: %s: %s", plugin, hook, type(error).__name__, message)
        record = {"time": time.time(), "hook": hook, "plugin": plugin, "error": type(error).__name__}
        try:
            path = state_dir() / "hook-failures.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError:
            pass


@dataclass(frozen=True)
class PerPlugin:
    """A hook argument made for each implementation: it gets ``factory(plugin_name)``.

    ``register`` callbacks use it, so what a plugin registers is attributed to it.
    """

    factory: Callable[[str], Any]


class _Guarded:
    """What pluggy's call loop reads of a HookImpl, with the function replaced by a guard.

    pluggy's ``HookImpl`` is final and derives its argument names from the function, so a
    guarded copy cannot be one; the call loop only reads these attributes.
    """

    __slots__ = ("argnames", "function", "hookwrapper", "kwargnames", "plugin_name", "wrapper")

    def __init__(self, impl: pluggy.HookImpl, function: Callable[..., Any]) -> None:
        self.function = function
        self.argnames, self.kwargnames = impl.argnames, impl.kwargnames
        self.wrapper, self.hookwrapper = impl.wrapper, impl.hookwrapper
        self.plugin_name = impl.plugin_name


class _Call:
    """One hook call: guards each implementation and remembers who answered and who raised."""

    def __init__(self, host: PluginHost, hook: str, isolate: bool, per_plugin: list[str]) -> None:
        self.host, self.hook, self.isolate, self.per_plugin = host, hook, isolate, per_plugin
        self.answered: list[tuple[str, Any]] = []
        self.raised: list[tuple[BaseException, str]] = []
        self.wrappers = ""

    def guarded(self, impl: pluggy.HookImpl) -> _Guarded:
        if impl.wrapper or impl.hookwrapper:
            self.wrappers = ", ".join(filter(None, [self.wrappers, impl.plugin_name]))
            return _Guarded(impl, self._guard_wrapper(impl))
        return _Guarded(impl, self._guard(impl))

    def blame(self, exc: BaseException) -> str | None:
        return next((plugin for raised, plugin in self.raised if raised is exc), None)

    def _arguments(
        self, plugin: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not self.per_plugin:
            return args, kwargs

        def made(value: Any) -> Any:
            return value.factory(plugin) if isinstance(value, PerPlugin) else value

        return tuple(made(a) for a in args), {k: made(v) for k, v in kwargs.items()}

    def _guard(self, impl: pluggy.HookImpl) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = self._arguments(impl.plugin_name, args, kwargs)
            try:
                result = impl.function(*args, **kwargs)
            except Exception as exc:
                if not self.isolate:
                    self.raised.append((exc, impl.plugin_name))
                    raise
                from lanterna.types import Refused

                if not isinstance(exc, Refused):
                    self.host.record_failure(self.hook, impl.plugin_name, exc)
                return None
            if result is not None:
                self.answered.append((impl.plugin_name, result))
            return result

        return guarded

    def _guard_wrapper(self, impl: pluggy.HookImpl) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = self._arguments(impl.plugin_name, args, kwargs)
            try:
                return (yield from cast("Generator[Any, Any, Any]", impl.function(*args, **kwargs)))
            except Exception as exc:
                if self.blame(exc) is None:  # an inner implementation's error passing through keeps its name
                    self.raised.append((exc, impl.plugin_name))
                raise

        return guarded

    def attribute(self, results: Any) -> list[tuple[str, Any]]:
        """``[(plugin, result)]``; a result a wrapper put in the list is attributed to the wrappers."""
        if not self.wrappers:
            return self.answered
        answered, attributed = list(self.answered), []
        for result in results if isinstance(results, list) else [results]:
            index = next((i for i, (_, value) in enumerate(answered) if value is result), None)
            attributed.append(answered.pop(index) if index is not None else (self.wrappers, result))
        return attributed


@dataclass(frozen=True)
class EntryPoint:
    """One ``lanterna`` entry point: ``value`` is ``module`` or ``module:attribute``."""

    name: str
    value: str
    distribution: str
    version: str

    def load(self) -> Any:
        import importlib

        module_name, _, attrs = self.value.partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def discover_entry_points() -> list[EntryPoint]:
    """Entry points of the ``lanterna`` group, sorted by name.

    ``import importlib.metadata`` and its scan of every distribution cost ~40 ms, more than
    the rest of a CLI start. The result is cached in the state dir, keyed by the mtimes of
    the ``sys.path`` entries: installing or removing a distribution changes its directory's
    mtime, so the cache can never hide a plugin change.
    """
    key = []
    for entry in sys.path:
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            continue
    cache = state_dir() / "entry-points.json"
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data["key"] == key and data["group"] == ENTRY_POINT_GROUP:
            return [EntryPoint(**ep) for ep in data["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(EntryPoint(ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    found.sort(key=lambda e: (e.name, e.distribution))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        payload = {"group": ENTRY_POINT_GROUP, "key": key, "entry_points": [asdict(e) for e in found]}
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names_of(ep: EntryPoint) -> set[str]:
    """What a selection may call a plugin: its entry-point name or its distribution's name,
    with or without the ``lanterna-`` prefix (``cloud``, ``lanterna-cloud-stubs``, ``cloud-stubs``)."""
    dist = _normalize(ep.distribution)
    return {_normalize(ep.name), dist, dist.removeprefix("lanterna-")}


def _selects(names: list[str] | None, ep: EntryPoint) -> bool:
    return bool(names) and not _names_of(ep).isdisjoint(_normalize(n) for n in names or [])


def _unmatched(names: list[str], entry_points: list[EntryPoint]) -> list[str]:
    known = set().union(*(_names_of(ep) for ep in entry_points)) if entry_points else set()
    return [n for n in names if _normalize(n) not in known]


def distributions_without_entry_point() -> list[str]:
    """Installed ``lanterna-*`` distributions that declare no ``lanterna`` entry point.

    Such a distribution is most likely a plugin whose entry point was forgotten or misspelt.
    """
    from importlib.metadata import distributions

    found = set()
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if not name.lower().replace("_", "-").startswith("lanterna-"):
            continue
        if not any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points):
            found.add(name)
    return sorted(found)


def _unknown_hooks_reason(unknown: list[str]) -> str:
    import difflib

    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, hookspecs.FAMILIES, n=1)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return f"implements unknown hook {', '.join(parts)}; see `lanterna hooks` for the hook names"


def recorded_hook_failures() -> Counter[tuple[str, str]]:
    """Hook failures recorded by every Lanterna process so far (from the state file)."""
    counts: Counter[tuple[str, str]] = Counter()
    try:
        lines = (state_dir() / "hook-failures.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return counts
    for line in lines:
        try:
            record = json.loads(line)
            counts[(record["hook"], record["plugin"])] += 1
        except (ValueError, KeyError, TypeError):
            continue
    return counts


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, created (and plugins loaded) on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset_host() -> None:
    """Forget the loaded plugins; the next ``get_host()`` discovers them again."""
    global _host
    _host = None
