"""`lanterna serve` option handling: the loopback rule and the fast-path parser."""

from __future__ import annotations

import pytest

from lanterna.launch import ServeUsageError, parse_serve
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
def test_serve_arguments_are_parsed_once_for_both_entry_points(args: list[str], expected: dict) -> None:
    assert parse_serve(args) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port"], "--port needs a value"),
        (["--port", "http"], "--port takes a number, not 'http'"),
        (["--verbose"], "unknown argument '--verbose' for serve"),
        (["extra"], "unknown argument 'extra' for serve"),
    ],
)
def test_malformed_serve_arguments_get_one_line_saying_what_to_do(args: list[str], message: str) -> None:
    with pytest.raises(ServeUsageError, match=message):
        parse_serve(args)


def test_allowed_hosts_follow_the_bind_address_and_port() -> None:
    import socket

    from lanterna.server.http_limits import allowed_hosts

    assert allowed_hosts("127.0.0.2", 9000) == ["127.0.0.2:9000", "127.0.0.1:9000", "localhost:9000", "[::1]:9000"]
    assert allowed_hosts("192.168.1.20", 80) == ["192.168.1.20:80"]
    assert allowed_hosts("fd00::1", 8765) == ["[fd00::1]:8765"]
    everywhere = allowed_hosts("0.0.0.0", 8765)
    assert everywhere[:4] == ["0.0.0.0:8765", "127.0.0.1:8765", "localhost:8765", "[::1]:8765"]
    assert f"{socket.gethostname()}:8765" in everywhere
    extra = allowed_hosts("10.0.0.5", 8765, ["mcp.example.com", "proxy.example.com:443"])
    assert extra == ["10.0.0.5:8765", "mcp.example.com", "mcp.example.com:8765", "proxy.example.com:443"]


def test_transport_options_protect_every_address(monkeypatch) -> None:
    from lanterna.config import Config
    from lanterna.server.http_limits import transport_options

    monkeypatch.setenv("LANTERNA_ALLOWED_HOSTS", "tools.internal")
    config = Config(data={"server": {"max_sessions": 7, "session_idle_s": 30}})
    options = transport_options(config, "10.1.2.3", 9)
    security = options["transport_security"]
    assert security.enable_dns_rebinding_protection
    assert security.allowed_hosts == ["10.1.2.3:9", "tools.internal", "tools.internal:9"]
    assert "http://10.1.2.3:9" in security.allowed_origins and "https://tools.internal" in security.allowed_origins
    assert options["max_sessions"] == 7 and options["session_idle_timeout"] == 30.0
