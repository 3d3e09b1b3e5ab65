"""`lanterna serve` option handling: the loopback rule and the fast-path parser."""

from __future__ import annotations

import pytest

from lanterna.launch import parse_serve
from lanterna.plugins import get_host
from lanterna.server.serve import ServeRefused, check_bind, is_loopback


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.5", "example.com", "10.0.0.1"])
def test_public_addresses(address: str) -> None:
    assert not is_loopback(address)


def test_public_bind_refused_without_an_authorizing_plugin() -> None:
    host = get_host()
    assert check_bind(host, "127.0.0.1", False) is None
    with pytest.raises(ServeRefused, match="--allow-unauthenticated"):
        check_bind(host, "0.0.0.0", False)
    warning = check_bind(host, "0.0.0.0", True)
    assert warning is not None and "WARNING" in warning


def test_public_bind_allowed_when_a_plugin_authorizes(load_plugins) -> None:
    load_plugins("guard_probe")
    assert check_bind(get_host(), "0.0.0.0", False) is None


def test_builtin_plugins_do_not_count_as_authorizing() -> None:
    from lanterna.server.serve import authorizing_plugins

    assert authorizing_plugins(get_host()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"http": False, "address": "127.0.0.1", "port": 8765, "allow_unauthenticated": False}),
        (
            ["--http", "--port", "9000"],
            {"http": True, "address": "127.0.0.1", "port": 9000, "allow_unauthenticated": False},
        ),
        (
            ["--http", "--host=0.0.0.0", "--port=81", "--allow-unauthenticated"],
            {"http": True, "address": "0.0.0.0", "port": 81, "allow_unauthenticated": True},
        ),
    ],
)
def test_fast_path_parses_plain_serve_invocations(args: list[str], expected: dict) -> None:
    assert parse_serve(args) == expected


@pytest.mark.parametrize("args", [["--help"], ["--port"], ["--port", "http"], ["--verbose"], ["extra"]])
def test_fast_path_leaves_anything_else_to_the_typer_cli(args: list[str]) -> None:
    assert parse_serve(args) is None
