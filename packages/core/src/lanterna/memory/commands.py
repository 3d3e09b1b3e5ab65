"""CLI commands of long-term memory, added by the memory built-in plugin.

Each command runs through the guard (action ``memory.<verb>``, resource ``service:<name>``,
or ``service:*`` when it names no service);
the embedded Postgres is stopped when the process exits, unless another process still uses it.
Pixeltable is imported only when a command runs.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lanterna.console import fail, print_json
from lanterna.memory.api import resource_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from lanterna.memory.api import MemoryService

STORE_LIBRARIES = ("pixeltable", "sqlalchemy", "psycopg")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ServiceOption = Annotated[str | None, typer.Option("--service", "-s", help="Only this service (project).")]
RecordServiceOption = Annotated[
    str | None,
    typer.Option("--service", "-s", help="The service (project) to file it under; without one it is global (_global)."),
]
KindOption = Annotated[str | None, typer.Option("--kind", "-k", help="code, doc, adr, incident, note or meeting.")]


def user_errors(exc: BaseException) -> typer.Exit | None:
    """The one-line exit for an error the user can act on, or a store library's failure; else None."""
    from lanterna.errors import UserError

    if isinstance(exc, UserError):
        return fail(str(exc), 1)
    if type(exc).__module__.startswith(STORE_LIBRARIES):
        detail = " ".join(str(exc).split())[:300]
        message = f"the memory store failed: {type(exc).__name__}: {detail}; check the store with `lanterna stats`"
        return fail(message, 2)
    return None


class MemoryCommands:
    """The memory commands over one ``MemoryService``; each runs as a guarded CLI operation."""

    def __init__(self, service: MemoryService) -> None:
        self.service = service

    @contextlib.contextmanager
    def guarded(self, action: str, resource: str) -> Iterator[None]:
        """Run a memory command through the guard; errors become one-line messages."""
        from lanterna.guard import Denied, Guard
        from lanterna.types import RequestContext

        try:
            with Guard(self.service.host).operation(RequestContext(transport="cli"), action, resource):
                yield
        except Denied as exc:
            raise fail(f"denied: {exc}", 3) from None
        except Exception as exc:
            exit_ = user_errors(exc)
            if exit_ is None:
                raise
            raise exit_ from None

    def ingest_command(
        self,
        path: Annotated[
            str, typer.Argument(help="Folder or file to ingest, or a code host repository: github:OWNER/REPO[@REF].")
        ],
        service: Annotated[str, typer.Option("--service", "-s", help="Service (project) the files belong to.")] = "",
        kind: KindOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Ingest a source tree: new and changed files are embedded, deleted ones removed."""
        if not service.strip():
            raise fail("a service name is required: pass --service NAME", 1)
        with (
            self.guarded("memory.ingest", resource_for(service)),
            _progress(not as_json and sys.stderr.isatty()) as progress,
        ):
            report = self.service.ingest_path(path, service, kind, progress=progress)
        if as_json:
            return print_json(report)
        print(
            f"{report['service']}: {report['added']} added, {report['updated']} updated,"
            f" {report['unchanged']} unchanged, {report['removed']} removed;"
            f" {report['chunks']} chunks embedded in {report['seconds']:.1f}s"
        )
        counts = [
            (len(report["skipped_binary"]), "binary"),
            (len(report["skipped_too_big"]), "too big"),
            (report["skipped_ignored"], "ignored (.gitignore, tool folders)"),
            (len(report["skipped_secrets"]), "secret"),
        ]
        if any(n for n, _ in counts):
            print("skipped: " + ", ".join(f"{n} {label}" for n, label in counts if n))
        for label, key in (("secret", "skipped_secrets"), ("binary", "skipped_binary"), ("too big", "skipped_too_big")):
            if report[key]:
                print(f"skipped ({label}, not stored): {', '.join(report[key])}")
        if report["redacted_secrets"]:
            print(f"secrets redacted (values not stored): {', '.join(report['redacted_secrets'])}")

    def search_command(
        self,
        query: Annotated[str, typer.Argument(help="What you are looking for, in words or identifiers.")],
        service: ServiceOption = None,
        kind: KindOption = None,
        path: Annotated[
            str | None, typer.Option("--path", help="Only paths matching this glob, e.g. 'src/*.py'.")
        ] = None,
        limit: Annotated[int, typer.Option("--limit", "-n", help="How many results.")] = 10,
        vector_only: Annotated[
            bool, typer.Option("--vector", help="Pure semantic ranking (no lexical boost).")
        ] = False,
        per_file: Annotated[int, typer.Option("--per-file", help="At most this many results from one file.")] = 2,
        as_json: JsonOption = False,
    ) -> None:
        """Search long-term memory: ranked results with root, path, line range, symbol, snippet and score."""
        mode = "vector" if vector_only else "hybrid"
        with self.guarded("memory.search", resource_for(service)):
            hits = self.service.search(query, service, kind, path, limit, mode, per_file=per_file)
            empty = self._nothing_ingested(service) if not hits else None
        if as_json:
            return print_json(hits)
        if empty:
            print(empty)
        elif not hits:
            print("no results")
        for group in _by_document(hits):
            first = group[0]
            root = f"  root {first['root']}" if first.get("root") else ""
            print(f"[{first['service']}/{first['kind']}] id={first['doc_id']}{root}")
            for hit in group:
                where = hit["path"] + (f":{hit['start_line']}-{hit['end_line']}" if hit["start_line"] else "")
                symbol = f"  {hit['symbol']}" if hit.get("symbol") else ""
                print(f"  {hit['score']:.3f}  {where}{symbol}")
                print(f"         {' '.join(hit['snippet'].split())[:160]}")

    def _nothing_ingested(self, service: str | None) -> str | None:
        """Why a search found nothing, when the reason is that nothing was ingested to search.

        (A service that was never ingested is already refused by the search itself.)
        """
        if service is not None or self.service.services():
            return None
        tenant = self.service.tenant()
        return (
            f"no results: nothing has been ingested for tenant '{tenant}';"
            " ingest with `lanterna ingest PATH --service NAME`"
        )

    def show_command(
        self,
        doc_id: Annotated[str, typer.Argument(help="The id search results and lists show.")],
        as_json: JsonOption = False,
    ) -> None:
        """Show one stored memory (note, ADR, incident or file) in full."""
        with self.guarded("memory.get", "service:*"):
            record = self.service.get_record(doc_id)
        if as_json:
            return print_json(record)
        print(
            f"{record['kind']} {record['id']} [{record['service']}] {record['title'] or ''}"
            f" {record['status'] or ''}".rstrip()
        )
        print(record["text"])

    def list_command(self, kind: KindOption = None, service: ServiceOption = None, as_json: JsonOption = False) -> None:
        """List stored memories, newest first."""
        with self.guarded("memory.list", resource_for(service)):
            rows = self.service.list_records(kind, service)
        if as_json:
            return print_json(rows)
        for r in rows:
            print(f"{r['id']}  {r['kind']:<8} {r['service']:<16} {r['title'] or r['path']}")

    def forget_command(self, doc_id: Annotated[str, typer.Argument(help="Id of the memory to forget.")]) -> None:
        """Forget a memory: no search or tool returns it afterwards (see `lanterna memory-purge`)."""
        with self.guarded("memory.forget", "service:*"):
            result = self.service.forget(doc_id)
        if "note" in result:
            print(result["note"])
        print(f"forgotten {doc_id}; Pixeltable's history keeps old versions until `lanterna memory-purge`")

    def services_command(self, as_json: JsonOption = False) -> None:
        """List the services (projects) in memory with their document and chunk counts."""
        with self.guarded("memory.services", "service:*"):
            rows = self.service.services()
        if as_json:
            return print_json(rows)
        if not rows:
            print("no services yet; `lanterna ingest PATH --service NAME` adds one")
        for r in rows:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["kinds"].items()))
            print(f"{r['service']:<24} {r['documents']:>6} documents {r['chunks']:>7} chunks  ({kinds})")
            for root in r["roots"]:
                print(f"{'':<24} root {root}")

    def stats_command(self, as_json: JsonOption = False) -> None:
        """Show memory statistics for your tenant."""
        with self.guarded("memory.stats", "service:*"):
            data = self.service.stats()
        if as_json:
            return print_json(data)
        for key, value in data.items():
            if key == "roots":
                print("roots:")
                for service, roots in value.items():
                    print(f"  {service}: {', '.join(roots) or '(not recorded: ingest again)'}")
            elif key == "refined":
                if value and not value["chunks_pending"]:
                    print(f"refined: all {value['chunks_done']} chunks have {value['embedder']} vectors to rerank with")
                elif value:
                    print(
                        f"refined: {value['chunks_done']} of {value['chunks_done'] + value['chunks_pending']} chunks"
                        f" have {value['embedder']} vectors to rerank with ({value['chunks_pending']} pending;"
                        " the memory daemon or a server fills them, `lanterna memory refine` does it now)"
                    )
            elif key == "reembed":
                if value:
                    print(
                        f"reembed: {value['chunks_done']} of {value['chunks_total']} chunks embedded with"
                        f" {value['embedder']} (searches use {data['embedder']} until all are;"
                        " `lanterna memory reembed` continues it if it stopped)"
                    )
            else:
                print(f"{key}: {value}")

    def purge_command(
        self,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    ) -> None:
        """Rewrite the store without its version history, so forgotten content is gone from disk too."""
        if not yes and not typer.confirm("Purge Pixeltable's version history of the memory store (all tenants)?"):
            raise fail("purge cancelled", 1)
        with self.guarded("memory.purge", "service:*"):
            counts = self.service.purge()
        print(f"purged: {counts['documents']} documents and {counts['chunks']} chunks kept, history dropped")

    def reembed_command(
        self,
        embedder: Annotated[
            str | None,
            typer.Option(
                "--embedder",
                "-e",
                help="Embedder to move to (default: [memory] embedder, else Lanterna's default).",
            ),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Embed every stored chunk again with another embedder (all tenants); searches use the old
        vectors until the new ones are complete, and a reembed that stopped is continued."""
        with self.guarded("memory.reembed", "service:*"), _chunk_progress("re-embedding", as_json) as progress:
            result = self.service.reembed(embedder, progress)
        if as_json:
            return print_json(result)
        if result.get("unchanged"):
            print(f"the store is already embedded with {result['embedder']}: nothing to do")
            return
        resumed = f", {result['resumed']} of them by the reembed that stopped" if result.get("resumed") else ""
        print(
            f"re-embedded {result['chunks']} chunks with {result['embedder']} (was {result['previous_embedder']})"
            f" in {result['seconds']:.1f} s{resumed}"
        )
        configured = self.service.settings.embedder
        if configured and configured != result["embedder"]:
            print(f'now set [memory] embedder = "{result["embedder"]}" (or remove it): it names {configured}')

    def refine_command(self, as_json: JsonOption = False) -> None:
        """Give every stored chunk its rerank vector now (all tenants), rather than in the
        background; a refine that stopped is continued."""
        with self.guarded("memory.refine", "service:*"), _chunk_progress("refining", as_json) as progress:
            result = self.service.refine(progress)
        if as_json:
            return print_json(result)
        print(
            f"refined: {result['chunks_done']} chunks have {result['embedder']} vectors,"
            f" {result['chunks_pending']} pending"
        )


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    if not enabled:
        yield None
        return
    from lanterna.memory.progress import ProgressLine

    line = ProgressLine(sys.stderr)
    try:
        yield line
    finally:
        line.close()


@contextlib.contextmanager
def _chunk_progress(verb: str, as_json: bool) -> Iterator[Callable[[int, int], None] | None]:
    """``progress(chunks_done, chunks_total)`` drawn on a terminal's stderr (None otherwise)."""
    if as_json or not sys.stderr.isatty():
        yield None
        return
    from lanterna.memory.progress import ProgressLine

    line = ProgressLine(sys.stderr, verb=verb, files=False)
    try:
        yield lambda done, total: line(done, total, done)
    finally:
        line.close()


def _by_document(hits: list[dict]) -> list[list[dict]]:
    """Hits grouped by document, documents in the order of their best hit."""
    groups: dict[str, list[dict]] = {}
    for hit in hits:
        groups.setdefault(hit["doc_id"], []).append(hit)
    return list(groups.values())


def _record_command(commands: MemoryCommands, kind: str, default_status: str | None) -> Callable[..., None]:
    def command(
        text: Annotated[str, typer.Argument(help="The text ('-' reads stdin).")],
        title: Annotated[str | None, typer.Option("--title", "-t", help="Title (default: first line).")] = None,
        service: RecordServiceOption = None,
        status: Annotated[
            str | None, typer.Option("--status", help="Status, e.g. accepted, open, resolved.")
        ] = default_status,
        as_json: JsonOption = False,
    ) -> None:
        body = sys.stdin.read() if text == "-" else text
        with commands.guarded(f"memory.{kind}", resource_for(service)):
            record = commands.service.add_record(kind, body, title=title, service=service, status=status)
        if as_json:
            return print_json(record)
        print(f"stored {kind} {record['id']}: {record['title']}")

    command.__doc__ = RECORD_HELP[kind]
    return command


RECORD_HELP = {
    "note": "Remember a note: a fact, decision or how-to worth keeping.",
    "adr": "Record an architecture decision (ADR): context, decision, consequences.",
    "incident": "Record an incident: what happened, impact, cause, fix.",
}


def register(cli: typer.Typer, service: MemoryService) -> None:
    commands = MemoryCommands(service)
    cli.command("ingest")(commands.ingest_command)
    cli.command("search")(commands.search_command)
    cli.command("note")(_record_command(commands, "note", None))
    cli.command("adr")(_record_command(commands, "adr", "accepted"))
    cli.command("incident")(_record_command(commands, "incident", "open"))
    cli.command("show")(commands.show_command)
    cli.command("memories")(commands.list_command)
    cli.command("forget")(commands.forget_command)
    cli.command("services")(commands.services_command)
    cli.command("stats")(commands.stats_command)
    cli.command("memory-purge")(commands.purge_command)
    group = typer.Typer(name="memory", help="Maintain the long-term memory store.", no_args_is_help=True)
    group.command("reembed")(commands.reembed_command)
    group.command("refine")(commands.refine_command)
    group.command("purge")(commands.purge_command)
    cli.add_typer(group, name="memory")
