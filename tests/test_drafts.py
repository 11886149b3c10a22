"""Note drafts on disk: written, read back, removed, kept apart per store, never fatal."""

from __future__ import annotations

from pathlib import Path

from app.core.drafts import DraftStore


def test_a_draft_is_read_back_after_a_restart(home: Path) -> None:
    DraftStore(home, "store-1").save(7, "check the company size", "approve")
    again = DraftStore(home, "store-1").load(7)  # a new object: nothing kept in memory
    assert again is not None
    assert (again.ticket_id, again.note, again.action) == (7, "check the company size", "approve")
    assert DraftStore(home, "store-1").ticket_ids() == [7]


def test_an_emptied_note_and_a_delete_remove_the_draft(home: Path) -> None:
    drafts = DraftStore(home, "store-1")
    drafts.save(1, "first words")
    drafts.save(1, "   ")
    assert drafts.load(1) is None
    drafts.save(2, "more")
    drafts.delete(2)
    drafts.delete(2)  # twice is fine: the decision may be recorded after a restart
    assert drafts.load(2) is None and drafts.ticket_ids() == []


def test_drafts_belong_to_their_store(home: Path) -> None:
    DraftStore(home, "store-a").save(1, "for a")
    assert DraftStore(home, "store-b").load(1) is None
    # A store id is never a path: no escaping the drafts folder.
    odd = DraftStore(home, "../../etc")
    odd.save(1, "x")
    assert odd.folder.resolve().is_relative_to((home / "drafts").resolve())


def test_a_damaged_draft_is_set_aside_not_fatal(home: Path) -> None:
    drafts = DraftStore(home, "s")
    drafts.save(3, "ok")
    (drafts.folder / "3.json").write_text("{not json", encoding="utf-8")
    assert drafts.load(3) is None
    assert (drafts.folder / "3.damaged").exists()
    assert drafts.ticket_ids() == []
