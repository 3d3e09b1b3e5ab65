"""Notes, ADRs and incidents: add, fetch, list, forget, purge."""

from __future__ import annotations

import uuid

from lanterna.memory import api

from .helpers import operation


def test_adr_and_incident_roundtrip() -> None:
    with operation():
        adr = api.add_record(
            "adr",
            "We use Postgres for queues.\n\nConsequences: no Kafka.",
            title="Queue backend",
            service="shop",
            status="accepted",
        )
        incident = api.add_record(
            "incident", "Checkout returned 502 for 20 minutes.", title="Checkout outage", service="shop", status="open"
        )
        fetched = api.get_record(adr["id"])
        adrs = api.list_records(kind="adr")
        incidents = api.list_records(kind="incident", service="shop")
        hits = api.search("queue backend decision", kind="adr", limit=1)
    assert fetched["title"] == "Queue backend" and fetched["status"] == "accepted"
    assert "We use Postgres for queues." in fetched["text"]
    assert [a["id"] for a in adrs] == [adr["id"]]
    assert [i["id"] for i in incidents] == [incident["id"]]
    assert hits[0]["doc_id"] == adr["id"]


def test_forget_hides_everywhere_and_purge_drops_history() -> None:
    marker = f"zebra-{uuid.uuid4().hex[:8]}"
    with operation():
        note = api.add_record("note", f"The staging password rotation lives in {marker} vault.")
        kept = api.add_record("note", "Deploys happen on Tuesdays.")
        assert api.search(marker, limit=5)[0]["doc_id"] == note["id"]
        api.forget(note["id"])
        store = api.store()
        assert all(h["doc_id"] != note["id"] for h in api.search(marker, limit=50))
        assert all(r["id"] != note["id"] for r in api.list_records())
        assert api.stats()["documents"] == 1
        # what remains: Pixeltable keeps deleted rows for its version history
        assert store.history_contains(marker)
        counts = api.purge()
        assert not store.history_contains(marker)
        assert counts["chunks"] >= 1
        # the rest survives the purge, and the store still works
        assert api.get_record(kept["id"])["text"] == "Deploys happen on Tuesdays."
        assert api.search("deploys tuesday", limit=1)[0]["doc_id"] == kept["id"]
        again = api.add_record("note", "Rollbacks use the previous image tag.")
        assert api.search("rollback image tag", limit=1)[0]["doc_id"] == again["id"]


def test_forgetting_another_tenants_memory_is_refused() -> None:
    with operation(tenant="owner-" + uuid.uuid4().hex[:6]):
        note = api.add_record("note", "Owner-only knowledge.")
    with operation(tenant="intruder-" + uuid.uuid4().hex[:6]):
        try:
            api.forget(note["id"])
        except api.MemoryError as exc:
            assert "no memory with id" in str(exc)
        else:
            raise AssertionError("forget crossed tenants")
        try:
            api.get_record(note["id"])
        except api.MemoryError:
            pass
        else:
            raise AssertionError("get crossed tenants")
