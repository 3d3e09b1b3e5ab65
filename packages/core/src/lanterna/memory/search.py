"""Ranked search over one tenant's memory: semantic, or hybrid (semantic + lexical).

Hybrid widens the semantic candidates, adds chunks that literally contain an identifier
of the query (``parse_config``, ``RetryPolicy``: what code search is often about), and
ranks by cosine similarity plus a bonus for the query words found in the chunk, its path
and its symbol. With a rerank embedder (``refine.py``: MiniLM over ``minilm-static``), more
candidates are taken and reordered by its vectors. At most ``per_file`` chunks of one
document are returned, so a top 5 spans several places rather than five parts of one file.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Literal

from lanterna.errors import UserError
from lanterna.memory import refine
from lanterna.memory.embedders import words

if TYPE_CHECKING:
    from lanterna.memory.store import Hit, MemoryStore

Mode = Literal["hybrid", "vector"]
#: Longest query accepted, and the identifiers of it searched literally (one SQL ILIKE each):
#: both bound what one query costs the shared database.
MAX_QUERY_CHARS = 1000
MAX_IDENTIFIERS = 8
LEXICAL_WEIGHT = 0.1  # bench/retrieval_quality.py: 0.05-0.15 best, 0.2+ lowers MRR
PER_FILE = 2
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "where's",
        "which's",
        "our",
        "my",
        "your",
        "can",
        "should",
        "file",
        "code",
        "function",
    ]
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class SearchError(UserError):
    """The search cannot run; the message says what to change."""


def query_terms(query: str) -> set[str]:
    return {_stem(w) for w in words(query) if len(w) > 2 and w not in STOPWORDS}


def identifiers(query: str) -> list[str]:
    """The first ``MAX_IDENTIFIERS`` distinct tokens that look like code identifiers:
    snake_case, camelCase, dotted."""
    found: list[str] = []
    for token in _IDENTIFIER.findall(query):
        inner_upper = any(c.isupper() for c in token[1:])
        if ("_" in token.strip("_") or "." in token.strip(".") or inner_upper) and len(token) > 3:
            name = token.strip(".")
            if name not in found:
                found.append(name)
    return found[:MAX_IDENTIFIERS]


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "s", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def lexical_score(terms: set[str], hit: Hit) -> float:
    if not terms:
        return 0.0
    place = f"{hit.path} {hit.symbol or ''}"
    present = {_stem(w) for w in words(hit.text)} | {_stem(w) for w in words(place)}
    return len(terms & present) / len(terms)


def cap_per_document(hits: list[Hit], per_file: int, limit: int) -> list[Hit]:
    """The first ``limit`` hits, keeping at most ``per_file`` of any one document."""
    taken: Counter[str] = Counter()
    out: list[Hit] = []
    for hit in hits:
        if taken[hit.doc_id] < per_file:
            taken[hit.doc_id] += 1
            out.append(hit)
            if len(out) == limit:
                break
    return out


def search(
    store: MemoryStore,
    tenant: str,
    query: str,
    *,
    service: str | None = None,
    kind: str | None = None,
    path_glob: str | None = None,
    limit: int = 10,
    mode: Mode = "hybrid",
    per_file: int = PER_FILE,
) -> list[Hit]:
    # One read for the whole search: a reembed swaps the table and the query's embedder together.
    with store.lock.reading():
        return _search(store, tenant, query, service, kind, path_glob, limit, mode, per_file)


def _search(
    store: MemoryStore,
    tenant: str,
    query: str,
    service: str | None,
    kind: str | None,
    path_glob: str | None,
    limit: int,
    mode: Mode,
    per_file: int,
) -> list[Hit]:
    query = query.strip()
    if not query:
        raise SearchError("the search query is empty; say what you are looking for")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(
            f"the search query has {len(query)} characters; use at most {MAX_QUERY_CHARS}"
            " (a question or a few identifiers)"
        )
    if not 1 <= limit <= 200:
        raise SearchError("limit must be between 1 and 200")
    if per_file < 1:
        raise SearchError("per_file must be at least 1 (chunks of one file among the results)")
    paths = None
    if path_glob:
        paths = store.paths_matching(tenant, path_glob, service, kind)
        if not paths:
            return []
    where = store.filters(service=service, kind=kind, paths=paths)
    vector = store.embedder.embed([query])[0]
    refiner = store.refiner if store.refiner is not None and store.refiner.active else None
    if mode == "vector":
        wanted = max(limit * 3, refine.CANDIDATES if refiner else 30)
        hits = store.vector_search(tenant, vector, limit=wanted, where_extra=where)
        if refiner:
            hits = refiner.rerank(query, hits, lambda hit: 0.0)
        return cap_per_document(_stored(store, tenant, hits), per_file, limit)
    wanted = max(limit * 5, refine.CANDIDATES if refiner else 50)
    candidates = store.vector_search(tenant, vector, limit=wanted, where_extra=where)
    seen = {(h.doc_id, h.start_line) for h in candidates}
    names = identifiers(query)
    if names:
        extra = store.text_search(tenant, names, vector, limit=50, where_extra=where)
        candidates.extend(h for h in extra if (h.doc_id, h.start_line) not in seen)
    terms = query_terms(query)
    for hit in candidates:
        hit.score = hit.vector_score + LEXICAL_WEIGHT * lexical_score(terms, hit)
    candidates.sort(key=lambda h: h.score, reverse=True)
    if refiner:
        candidates = refiner.rerank(query, candidates, lambda hit: LEXICAL_WEIGHT * lexical_score(terms, hit))
    return cap_per_document(_stored(store, tenant, candidates), per_file, limit)


def _stored(store: MemoryStore, tenant: str, hits: list[Hit]) -> list[Hit]:
    """Hits whose document is stored: a write that is still running, or was interrupted,
    has chunks without a document row, and those are not found."""
    stored = store.stored_documents(tenant, {h.doc_id for h in hits})
    return [h for h in hits if h.doc_id in stored]
