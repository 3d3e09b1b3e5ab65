"""The memory CLI commands: registered by the built-in plugin, guarded, scoped by tenant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lanterna import hookimpl
from lanterna.memory.commands import register
from lanterna.plugins import get_host
from tests.helpers import subprocess_env

from .helpers import LANTERNA, memory, write_tree


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app, memory())
    return app


def run(cli: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_search_note_show_forget(cli: typer.Typer, tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "p", {"app/payments.py": "def refund_order(order_id):\n    return gateway.refund(order_id)\n"}
    )
    code, out, err = run(cli, "ingest", str(root), "--service", "pay", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 1
    code, out, _ = run(cli, "search", "refund_order", "--service", "pay", "--json")
    hits = json.loads(out)
    assert hits[0]["path"] == "app/payments.py" and hits[0]["start_line"] == 1
    code, out, _ = run(cli, "search", "refund_order", "--path", "app/*.py")
    assert code == 0 and "app/payments.py:1-2" in out
    code, out, _ = run(cli, "note", "Refunds above 500 EUR need a second approver.", "--json")
    note_id = json.loads(out)["id"]
    code, out, _ = run(cli, "show", note_id)
    assert "second approver" in out
    code, out, _ = run(cli, "forget", note_id)
    assert code == 0
    code, out, err = run(cli, "show", note_id)
    assert code == 1 and "no memory with id" in err
    code, out, _ = run(cli, "services", "--json")
    assert [s["service"] for s in json.loads(out)] == ["pay"]
    code, out, _ = run(cli, "stats")
    assert "documents: 1" in out
    assert f"pay: {root.resolve()}" in out
    code, out, _ = run(cli, "services")
    assert f"root {root.resolve()}" in out


def test_search_text_shows_each_document_once_with_its_root(cli: typer.Typer, tmp_path: Path) -> None:
    body = "\n\n".join(f"def refund_step_{i}(order):\n    return refund(order, {i})\n" + "\n" * 12 for i in range(4))
    root = write_tree(tmp_path / "p", {"app/refunds.py": body, "app/other.py": "def refund(order, step):\n    pass\n"})
    assert run(cli, "ingest", str(root), "--service", "pay")[0] == 0
    code, out, _ = run(cli, "search", "refund order step", "--service", "pay", "-n", "5")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("[pay/code]")]
    assert len(headers) == 2 and all(f"root {root.resolve()}" in h for h in headers)
    ids = [h.split("id=")[1].split()[0] for h in headers]
    assert len(set(ids)) == 2 and all(out.count(i) == 1 for i in ids)
    assert "app/refunds.py:" in out and "refund_step_" in out  # path:lines and the symbol


def test_errors_are_one_line_with_exit_code(cli: typer.Typer, tmp_path: Path) -> None:
    code, _, err = run(cli, "ingest", str(tmp_path / "nope"), "--service", "x")
    assert (
        code == 1
        and err.strip() == f"lanterna: path {tmp_path / 'nope'} does not exist; pass a folder or file to ingest"
    )
    code, _, err = run(cli, "ingest", str(tmp_path))
    assert code == 1 and "--service NAME" in err
    code, _, err = run(cli, "search", "x", "--service", "ghost")
    assert code == 1 and "unknown service 'ghost'" in err and err.count("\n") == 1
    assert "lanterna ingest PATH --service ghost" in err


class DenyMemory:
    @hookimpl
    def authorize(self, request, action, resource):
        if action.startswith("memory.") and resource == "service:secret-project":
            return "you may not read secret-project; ask its owner for access"
        return None


def test_commands_run_through_the_guard(cli: typer.Typer) -> None:
    get_host().register(DenyMemory(), "deny-memory")
    code, _, err = run(cli, "search", "anything", "--service", "secret-project")
    assert code == 3
    assert "denied: you may not read secret-project" in err


def test_plugin_registers_commands_without_importing_heavy_libraries(tmp_path: Path) -> None:
    script = (
        "import sys; from lanterna.cli import app, _add_commands; from lanterna.plugins import get_host;"
        " _add_commands(get_host(), []);"
        " names = {c.name for c in app.registered_commands};"
        " assert {'ingest', 'search', 'note', 'adr', 'incident', 'forget', 'services', 'stats'} <= names, names;"
        " heavy = [m for m in ('pixeltable', 'onnxruntime', 'numpy', 'mcp', 'tokenizers') if m in sys.modules];"
        " assert not heavy, heavy"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=subprocess_env(tmp_path, own_store=True, LANTERNA_LOAD_PLUGINS=""),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()


def test_cli_json_output_is_clean_and_external_database_passes_through(tmp_path: Path) -> None:
    env = subprocess_env(
        tmp_path / "home",
        own_store=True,
        LANTERNA_LOAD_PLUGINS="",
        LANTERNA_EMBEDDER="hash-384",
        LANTERNA_PIXELTABLE_HOME=str(tmp_path / "pxt"),
        LANTERNA_DB_CONNECT_STR="postgresql://nobody@127.0.0.1:1/lanterna",
    )
    done = subprocess.run([*LANTERNA, "stats", "--json"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"cannot start the memory store" in done.stderr
    assert not (tmp_path / "pxt" / "pgdata").exists()  # it went to the external database, not an embedded one


def test_search_on_an_empty_store_says_what_to_ingest(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    tenant = f"empty-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LANTERNA_TENANT", tenant)
    code, out, _ = run(cli, "search", "anything at all")
    assert code == 0
    assert out.strip() == (
        f"no results: nothing has been ingested for tenant '{tenant}';"
        " ingest with `lanterna ingest PATH --service NAME`"
    )
    root = write_tree(tmp_path / "p", {"notes.md": "The deploy runs on Tuesdays.\n"})
    assert run(cli, "ingest", str(root), "--service", "ops")[0] == 0
    code, out, _ = run(cli, "search", "no such words anywhere")
    assert code == 0 and "nothing has been ingested" not in out
    code, _, err = run(cli, "search", "deploy", "--service", "payments")
    assert code == 1 and "unknown service 'payments'" in err
    assert "--service" in run(cli, "note", "--help")[1] and "Only this service" not in run(cli, "note", "--help")[1]


def test_ingest_summary_counts_every_kind_of_skipped_file(cli: typer.Typer, tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "s",
        {
            "app.py": "def ship(parcel):\n    return parcel\n",
            ".gitignore": "build/\n*.log\n",
            "build/out.py": "x = 1\n",
            "debug.log": "noise\n",
            "node_modules/left/index.js": "module.exports = 1\n",
            ".env": "API_KEY=abc\n",
        },
    )
    (root / "logo.bin").write_bytes(b"\x00\x01\x02" * 100)
    (root / "huge.txt").write_text("x" * (600 * 1024))
    code, out, err = run(cli, "ingest", str(root), "--service", "skips", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["skipped_ignored"] == 3  # build/, debug.log, node_modules/
    assert (report["skipped_binary"], report["skipped_too_big"], report["skipped_secrets"]) == (
        ["logo.bin"],
        ["huge.txt"],
        [".env"],
    )
    code, out, err = run(cli, "ingest", str(root), "--service", "skips")
    assert code == 0, err
    assert "skipped: 1 binary, 1 too big, 3 ignored (.gitignore, tool folders), 1 secret" in out


def test_progress_line_shows_files_chunks_rate_and_eta() -> None:
    import io

    from lanterna.memory.progress import ProgressLine

    stream = io.StringIO()
    line = ProgressLine(stream, every=0)
    line.first_done = 10  # ten unchanged files were reported at once
    text = line.line(30, 110, 400, elapsed=20.0)
    # 20 files read in 20 s, 80 to go: 80 s
    assert text == "ingesting: 30/110 files, 400 chunks, 20 chunks/s, ETA 1:20 (0:20 elapsed)"
    line(110, 110, 900)
    line.close()
    assert stream.getvalue().startswith("\ringesting: 110/110 files, 900 chunks") and stream.getvalue().endswith("\n")
