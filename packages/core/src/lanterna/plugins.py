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
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pluggy

from lanterna import PLUGIN_API_VERSION, __version__, hookspecs
from lanterna.config import Config, env_flag, env_list, load_config, state_dir
from lanterna.types import Refused

ENTRY_POINT_GROUP = "lanterna"
SUPPORTED_PLUGIN_APIS = frozenset({PLUGIN_API_VERSION})
#: Built-in plugins as ``module:factory``; each factory is called with the loaded Config.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "lanterna.builtins.local_tenancy:LocalTenancy",
    "lanterna.builtins.session_memory:SessionMemory",
    "lanterna.memory.memory:MemoryPlugin",
)

log = logging.getLogger("lanterna.plugins")

Status = Literal["loaded", "blocked", "failed"]


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    status: Status
    reason: str = ""
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HookFailed(Exception):
    """A plugin's implementation raised; ``str()`` names the plugin and the hook."""

    def __init__(self, hook: str, plugin: str, error: BaseException) -> None:
        super().__init__(f"plugin '{plugin}' failed in {hook}: {type(error).__name__}: {_one_line(error)}")
        self.hook, self.plugin, self.error = hook, plugin, error


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
        self._impls: dict[str, list[Any]] = {}
        for spec in BUILTIN_PLUGINS:
            self._register_builtin(spec)
        self._load_entry_points()

    # -- loading -----------------------------------------------------------------------

    def _register_builtin(self, spec: str) -> None:
        import importlib

        module_name, _, factory = spec.partition(":")
        plugin = getattr(importlib.import_module(module_name), factory)(self.config)
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

    def _load_one(self, ep: EntryPoint, info: PluginInfo) -> None:
        try:
            plugin = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, SystemExit included
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
            except BaseException as exc:  # noqa: BLE001
                return self._fail(info, f"could not be set up: {type(exc).__name__}: {_one_line(exc)}")
        self.register(plugin, info)

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
        except BaseException as exc:  # noqa: BLE001
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
        return info

    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "failed"]

    def strict_violation(self) -> list[str]:
        """In strict mode, the lines that explain why the process must stop; else []."""
        failed = self.failed()
        if not (failed and self.strict):
            return []
        lines = [f"plugin '{p.name}' ({p.distribution} {p.version}): {p.reason}" for p in failed]
        return [*lines, f"{len(failed)} plugin(s) failed to load and strict mode is on; fix or uninstall them"]

    # -- calling -----------------------------------------------------------------------

    def implementations(self, hook: str) -> list[Any]:
        """HookImpls of ``hook`` in call order (pluggy's order: tryfirst … trylast)."""
        impls = self._impls.get(hook)
        if impls is None:
            caller = getattr(self.pm.hook, hook)
            impls = [i for i in reversed(caller.get_hookimpls()) if not (i.hookwrapper or i.wrapper)]
            self._impls[hook] = impls
        return impls

    def call(self, hook: str, /, *, firstresult: bool = False, isolate: bool = False, **kwargs: Any) -> Any:
        """Call each implementation of ``hook`` separately, so one plugin cannot break another.

        Returns the first non-None result with ``firstresult``, else ``[(plugin, result)]``
        for every non-None result. A failure is logged and counted; with ``isolate`` the call
        goes on with the next implementation, otherwise it raises ``HookFailed``.
        """
        start = time.perf_counter() if self.trace else 0.0
        results: list[tuple[str, Any]] = []
        impls = self.implementations(hook)
        try:
            for impl in impls:
                try:
                    result = impl.function(*[kwargs[name] for name in impl.argnames])
                except BaseException as exc:
                    if not isinstance(exc, Refused):  # a refusal is a decision, not a plugin failure
                        self.record_failure(hook, impl.plugin_name, exc)
                    if not isolate:
                        raise HookFailed(hook, impl.plugin_name, exc) from exc
                    continue
                if result is not None:
                    if firstresult:
                        return result
                    results.append((impl.plugin_name, result))
            return None if firstresult else results
        finally:
            if self.trace:
                names = ", ".join(i.plugin_name for i in impls) or "no implementation"
                elapsed = (time.perf_counter() - start) * 1e6
                print(f"lanterna trace: {hook} [{names}] {elapsed:.1f} µs", file=sys.stderr)

    def record_failure(self, hook: str, plugin: str, error: BaseException) -> None:
        """Count a hook failure and append it to the state file ``lanterna status`` reads."""
        self.hook_failures[(hook, plugin)] += 1
        log.warning("plugin '%s' failed in %s: %s: %s", plugin, hook, type(error).__name__, _one_line(error))
        record = {"time": time.time(), "hook": hook, "plugin": plugin, "error": type(error).__name__}
        try:
            path = state_dir() / "hook-failures.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError:
            pass


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
