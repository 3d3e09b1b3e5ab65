"""What the suites share: running checks with or without pytest, and small guarded helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from lanterna.guard import Denied, Guard, current_request
from lanterna.plugins import PluginHost
from lanterna.types import RequestContext


class Skipped(Exception):
    """A check that needs something the harness does not provide."""


def skip(reason: str) -> NoReturn:
    """Skip the running check: through pytest when it runs it, else for ``run_suite``."""
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is how suites usually run
        raise Skipped(reason) from None
    pytest.skip(reason)


class Suite:
    """Base of every suite: each ``test_*`` method is one check taking a ``harness``."""

    @classmethod
    def checks(cls) -> list[str]:
        return sorted(name for name in dir(cls) if name.startswith("test_"))


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str  # passed, failed, skipped
    message: str = ""


def run_suite(suite: type[Suite], make_harness: Callable[[], Any]) -> list[CheckResult]:
    """Run every check of ``suite``, each with a fresh harness; never raises for a failed check."""
    results = []
    for name in suite.checks():
        instance = suite()
        harness = make_harness()
        try:
            getattr(instance, name)(harness)
        except AssertionError as exc:
            results.append(CheckResult(name, "failed", str(exc).split("\n")[0]))
        except Denied as exc:
            results.append(CheckResult(name, "failed", f"unexpected denial: {exc}"))
        except Skipped as exc:
            results.append(CheckResult(name, "skipped", str(exc)))
        except BaseException as exc:
            if type(exc).__name__ == "Skipped":
                results.append(CheckResult(name, "skipped", str(exc)))
            elif isinstance(exc, Exception):
                results.append(CheckResult(name, "failed", f"{type(exc).__name__}: {exc}"))
            else:
                raise
        else:
            results.append(CheckResult(name, "passed"))
        finally:
            close = getattr(harness, "close", None)
            if close is not None:
                close()
    return results


def run_op(
    host: PluginHost,
    request: RequestContext,
    action: str = "conformance.read",
    resource: str = "conformance:item",
    fn: Callable[[RequestContext], Any] | None = None,
    feature: str | None = None,
    tenant: str | None = None,
) -> Any:
    """Run ``fn(resolved request)`` inside one guarded operation; returns what it returns.

    With ``tenant`` (the tenant the harness made ``request`` for), a request resolved as
    another tenant fails at once, blaming the harness rather than the family under test.
    """
    with Guard(host).operation(request, action, resource, feature=feature):
        resolved = current_request()
        if tenant is not None and resolved.tenant != tenant:
            raise AssertionError(wrong_tenant(tenant, resolved.tenant))
        return fn(resolved) if fn is not None else resolved


def wrong_tenant(expected: str, resolved: str | None) -> str:
    return (
        f"the harness resolved tenant {resolved!r}, expected {expected!r}: add a tenancy plugin to the host"
        " or use the lanterna_host fixture (its test tenancy takes the tenant from the request)"
    )


@contextlib.contextmanager
def expect_denied(stage: str | tuple[str, ...], what: str) -> Iterator[list[Denied]]:
    """Assert that the block raises ``Denied`` at ``stage``; yields a list holding the denial."""
    stages = (stage,) if isinstance(stage, str) else stage
    caught: list[Denied] = []
    try:
        yield caught
    except Denied as denial:
        caught.append(denial)
        assert denial.stage in stages, f"{what}: denied at stage '{denial.stage}', expected {'/'.join(stages)}"
        assert denial.reason.strip(), f"{what}: denied without a reason"
        assert "\n" not in denial.reason and "\r" not in denial.reason, f"{what}: the reason is not one line"
        return
    raise AssertionError(f"{what}: the operation was allowed")


def run_concurrently(jobs: int, threads: int, job: Callable[[int], None]) -> list[BaseException]:
    """Run ``job(0)`` … ``job(jobs - 1)`` spread over ``threads`` threads released together.

    Returns what the jobs raised, so a suite can report it with its own words.
    """
    import threading

    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(start: int) -> None:
        barrier.wait()
        for i in range(start, jobs, threads):
            try:
                job(i)
            except Exception as exc:  # noqa: BLE001 - returned to the caller
                errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors
