"""Notes, ADRs and incidents: add, fetch, list, forget, purge."""

from __future__ import annotations

import uuid

from lanterna.memory.api import MemoryUsageError

from .helpers import memory, operation


def test_adr_and_incident_roundtrip() -> None:
    with operation():
        adr = memory().add_record(
            "adr",
            "We use Postgres for queues.\n\nConsequences: no Kafka.",
            title="Queue backend",
            service="shop",
            status="accepted",
        )
        incident = memory().add_record(
            "incident", "Checkout returned 502 for 20 minutes.", title="Checkout outage", service="shop", status="open"
        )
        fetched = memory().get_record(adr["id"])
        adrs = memory().list_records(kind="adr")
        incidents = memory().list_records(kind="incident", service="shop")
        hits = memory().search("queue backend decision", kind="adr", limit=1)
    assert fetched["title"] == "Queue backend" and fetched["status"] == "accepted"
    assert "We use Postgres for queues." in fetched["text"]
    assert [a["id"] for a in adrs] == [adr["id"]]
    assert [i["id"] for i in incidents] == [incident["id"]]
    assert hits[0]["doc_id"] == adr["id"]


def test_forget_hides_everywhere_and_purge_drops_history() -> None:
    marker = f"zebra-{uuid.uuid4().hex[:8]}"
    with operation():
        note = memory().add_record("note", f"The staging password rotation lives in {marker} vault.")
        kept = memory().add_record("note", "Deploys happen on Tuesdays.")
        assert memory().search(marker, limit=5)[0]["doc_id"] == note["id"]
        memory().forget(note["id"])
        store = memory().store()
        assert all(h["doc_id"] != note["id"] for h in memory().search(marker, limit=50))
        assert all(r["id"] != note["id"] for r in memory().list_records())
        assert memory().stats()["documents"] == 1
        # what remains: Pixeltable keeps deleted rows for its version history
        assert store.history_contains(marker)
        counts = memory().purge()
        assert not store.history_contains(marker)
        assert counts["chunks"] >= 1
        # the rest survives the purge, and the store still works
        assert memory().get_record(kept["id"])["text"] == "Deploys happen on Tuesdays."
        assert memory().search("deploys tuesday", limit=1)[0]["doc_id"] == kept["id"]
        again = memory().add_record("note", "Rollbacks use the previous image tag.")
        assert memory().search("rollback image tag", limit=1)[0]["doc_id"] == again["id"]


def test_forgetting_another_tenants_memory_is_refused() -> None:
    with operation(tenant="owner-" + uuid.uuid4().hex[:6]):
        note = memory().add_record("note", "Owner-only knowledge.")
    with operation(tenant="intruder-" + uuid.uuid4().hex[:6]):
        try:
            memory().forget(note["id"])
        except MemoryUsageError as exc:
            assert "no memory with id" in str(exc)
        else:
            raise AssertionError("forget crossed tenants")
        try:
            memory().get_record(note["id"])
        except MemoryUsageError:
            pass
        else:
            raise AssertionError("get crossed tenants")
