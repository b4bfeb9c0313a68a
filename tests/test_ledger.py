"""The ledger round trip, the same on SQLite and on PostgreSQL: approvals, claims, receipts, states, events.

The PostgreSQL tests create a throwaway database (`budbringer_test_<random>`) on the server at
$BUDBRINGER_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) and drop it
afterwards. Without a server they are skipped, except under CI (`CI` set), where they fail.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Answer, Ledger, NoticeKind, RequestState, State, VoteDecision
from budbringer.render import Variant

MESSAGE_ID = "2026-11-status-udbud"


def variant(forum: str, body: str = "<p>Kære alle</p>", tier: str = "oc", tier_index: int = 1) -> Variant:
    return Variant(forum=forum, forum_title=forum.upper(), tier=tier, tier_index=tier_index, phase="cascade",
                   medium="mail", channel="mail", template="oc_briefing.html.j2", stakeholder="management",
                   subject=f"Orientering til {forum}", body=body, body_format="html", summary="Et resumé.",
                   link=None, recipients=(f"{forum}@socialomraadet.example",))


def approve(ledger: Ledger, *variants: Variant, **extra: object) -> Approval:
    return ledger.record_approval(Approval(
        message_id=MESSAGE_ID, variant_hashes={v.forum: v.content_hash for v in variants},
        approved_by="Mette Lund", reference="Styregruppemøde 2026-11-20, punkt 3", **extra))  # type: ignore[arg-type]


# -- the two databases ---------------------------------------------------------------------------------------

@pytest.fixture
def ledger(database_url: str) -> Ledger:
    """A fresh ledger on SQLite and on PostgreSQL (conftest.py's `database_url`)."""
    made = Ledger(database_url)
    assert made.engine.dialect.name == sa.make_url(database_url).get_backend_name()
    return made


# -- the round trip ------------------------------------------------------------------------------------------

def test_approval_round_trip(ledger: Ledger) -> None:
    oc, hmu = variant("oc"), variant("hmu", tier="hmu_and_networks", tier_index=2)
    first = approve(ledger, oc, hmu)
    second = approve(ledger, oc, hmu, override_order=True, override_reason="Fristen for MidtNyt")
    assert first.id is not None and second.id is not None and second.id > first.id
    again = ledger.approval(first.id)
    assert again == first
    assert again.variant_hashes == {"oc": oc.content_hash, "hmu": hmu.content_hash}
    assert again.hash == first.hash and again.covers(oc) and again.covers(hmu)
    assert not again.covers(variant("oc", body="<p>Ændret</p>"))
    assert again.approved_by == "Mette Lund" and again.reference == "Styregruppemøde 2026-11-20, punkt 3"
    assert again.approved_at.tzinfo is not None
    assert abs(again.approved_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert [(a.id, a.override_order, a.override_reason) for a in ledger.approvals_for(MESSAGE_ID)] == [
        (first.id, False, ""), (second.id, True, "Fristen for MidtNyt")]
    assert ledger.approvals_for("en-anden-besked") == []
    assert ledger.approval(first.id + 1000) is None


def test_delivery_round_trip(ledger: Ledger) -> None:
    oc = variant("oc")
    approval = approve(ledger, oc)
    delivery = Delivery(MESSAGE_ID, oc, "mail", approval.id)  # type: ignore[arg-type]

    record, owned = ledger.claim(delivery)
    assert owned and record.state == State.ATTEMPTING and record.attempts == 1
    assert (record.key, record.message_id, record.content_hash, record.forum, record.channel, record.tier,
            record.tier_index, record.approval_id) == (delivery.key, MESSAGE_ID, oc.content_hash, "oc", "mail", "oc",
                                                       1, approval.id)
    assert record.started_at.tzinfo is not None and record.finished_at is None and record.receipt is None
    assert ledger.delivered_hashes(MESSAGE_ID) == {f"oc={oc.content_hash}"}  # an attempt may have delivered

    # While it is under way, a second claim finds it and does not own it.
    busy, owned_again = ledger.claim(delivery)
    assert not owned_again and busy.state == State.ATTEMPTING and busy.attempts == 1

    sent_at = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC)
    receipt = Receipt("outbox", "outbox/oc.eml", "https://intranet.example/oc", sent_at, {"bytes": 2048, "ø": "å"})
    ledger.delivered(delivery.key, receipt)
    done = ledger.record(delivery.key)
    assert done is not None and done.state == State.DELIVERED and done.error is None
    assert done.receipt == receipt
    assert done.finished_at is not None and done.started_at <= done.finished_at

    # Delivered is final: a later claim reports it and never owns it.
    later, owned_later = ledger.claim(delivery)
    assert not owned_later and later.state == State.DELIVERED and later.attempts == 1
    assert [state for _, state, _ in ledger.events(delivery.key)] == ["attempting", "delivered"]
    assert ledger.records(MESSAGE_ID) == [done] and ledger.records() == [done]
    assert ledger.records("en-anden-besked") == []


def test_failed_is_taken_up_again_and_uncertain_is_not(ledger: Ledger) -> None:
    hmu, web = variant("hmu", tier="hmu_and_networks", tier_index=2), variant("website", tier="external",
                                                                                tier_index=4)
    approval = approve(ledger, hmu, web)
    first = Delivery(MESSAGE_ID, hmu, "mail", approval.id)  # type: ignore[arg-type]
    ledger.claim(first)
    ledger.failed(first.key, "mail → hmu: 403 Forbidden")
    failed = ledger.record(first.key)
    assert failed is not None and failed.state == State.FAILED and failed.error == "mail → hmu: 403 Forbidden"
    assert ledger.delivered_hashes(MESSAGE_ID) == set()  # a failed delivery reached nobody

    retry, owned = ledger.claim(first)
    assert owned and retry.state == State.ATTEMPTING and retry.attempts == 2 and retry.error is None
    ledger.delivered(first.key, Receipt("memory", "memory-1"))

    uncertain = Delivery(MESSAGE_ID, web, "website", approval.id)  # type: ignore[arg-type]
    ledger.claim(uncertain)
    ledger.uncertain(uncertain.key, "website: timeout after the request was sent")
    found, owned = ledger.claim(uncertain)
    assert not owned and found.state == State.UNCERTAIN and found.attempts == 1
    assert found.error == "website: timeout after the request was sent"
    assert [s for _, s, _ in ledger.events(first.key)] == ["attempting", "failed", "attempting", "delivered"]
    assert [(r.tier_index, r.forum, r.state) for r in ledger.records(MESSAGE_ID)] == [
        (2, "hmu", State.DELIVERED), (4, "website", State.UNCERTAIN)]


def claim_together(ledger: Ledger, delivery: Delivery, claimants: int = 6) -> list[bool]:
    """`claimants` threads claim the same delivery at the same moment; each says whether it owns it."""
    barrier = threading.Barrier(claimants)
    owned: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            barrier.wait(timeout=10)
            _, mine = Ledger(ledger.url).claim(delivery)
            with lock:
                owned.append(mine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return owned


def test_two_claims_of_one_delivery_only_one_owns_it(ledger: Ledger) -> None:
    oc = variant("oc")
    delivery = Delivery(MESSAGE_ID, oc, "mail", approve(ledger, oc).id)  # type: ignore[arg-type]
    first, first_owned = ledger.claim(delivery)
    second, second_owned = ledger.claim(delivery)
    assert (first_owned, second_owned) == (True, False)
    assert second.attempts == 1

    # At the same moment: exactly one of several claims wins, for a new delivery and for a failed one.
    hmu = variant("hmu", tier="hmu_and_networks", tier_index=2)
    concurrent = Delivery(MESSAGE_ID, hmu, "mail", approve(ledger, hmu).id)  # type: ignore[arg-type]
    assert sorted(claim_together(ledger, concurrent)) == [False] * 5 + [True]
    ledger.failed(concurrent.key, "mail → hmu: 503")
    assert sorted(claim_together(ledger, concurrent)) == [False] * 5 + [True]
    record = ledger.record(concurrent.key)
    assert record is not None and record.attempts == 2 and record.state == State.ATTEMPTING
    assert len(ledger.records(MESSAGE_ID)) == 2


def test_a_notice_is_kept_by_the_deliveries_rule(ledger: Ledger) -> None:
    """One claim of several at once owns a notice, a failed notice is taken up again by exactly one, and a retake
    after a lookup is a compare-and-set on the attempt number: two runs holding the same record cannot both take
    it (before, a notice was retaken on its state alone)."""
    request, _ = ledger.open_request(MESSAGE_ID, "c" * 64, "Status på udbuddet", None, None)
    key = f"notice/{MESSAGE_ID}/{'c' * 16}/request:jens-kragh"

    def claim_notice_together() -> list[bool]:
        barrier, owned, lock = threading.Barrier(6), [], threading.Lock()

        def claim() -> None:
            barrier.wait(timeout=10)
            _, mine = Ledger(ledger.url).notice_store.claim(key, MESSAGE_ID, request.id, "request:jens-kragh", "mail")
            with lock:
                owned.append(mine)

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return owned

    assert sorted(claim_notice_together()) == [False] * 5 + [True]
    ledger.notice_store.finish(key, State.FAILED, error="mail: 503")
    assert sorted(claim_notice_together()) == [False] * 5 + [True]
    ledger.notice_store.finish(key, State.UNCERTAIN, error="mail: connection dropped after the request")
    stale = ledger.notice_record(key)
    assert stale is not None and (stale.state, stale.attempts) == (State.UNCERTAIN, 2)
    assert ledger.notice_store.retake(stale)  # the lookup found nothing: attempt 3
    assert not ledger.notice_store.retake(stale)  # the same stale record: refused
    assert ledger.uncertain_notices(MESSAGE_ID) == []
    assert [d for _, _, d in ledger.notice_events(key)][-1] == "attempt 3 after lookup"


def test_a_state_changes_only_as_the_states_allow(ledger: Ledger) -> None:
    """Delivered is final, and a failed delivery is only ever taken up again by a claim: the ledger refuses
    anything else, for deliveries and notices alike, and records nothing for it."""
    assert [s for s in State if State.DELIVERED.may_become(s)] == []
    assert State.before(State.FAILED) == (State.ATTEMPTING, State.UNCERTAIN)
    oc = variant("oc")
    delivery = Delivery(MESSAGE_ID, oc, "mail", approve(ledger, oc).id)  # type: ignore[arg-type]
    ledger.claim(delivery)
    ledger.delivered(delivery.key, Receipt("memory", "memory-1"))
    with pytest.raises(ValueError, match="is delivered: it cannot become failed"):
        ledger.failed(delivery.key, "too late")
    hmu = variant("hmu", tier="hmu_and_networks", tier_index=2)
    failing = Delivery(MESSAGE_ID, hmu, "mail", approve(ledger, hmu).id)  # type: ignore[arg-type]
    ledger.claim(failing)
    ledger.failed(failing.key, "mail → hmu: 403")
    with pytest.raises(ValueError, match="is failed: it cannot become delivered"):
        ledger.delivered(failing.key, Receipt("memory", "memory-2"))
    assert [s for _, s, _ in ledger.events(delivery.key)] == [State.ATTEMPTING, State.DELIVERED]
    assert [s for _, s, _ in ledger.events(failing.key)] == [State.ATTEMPTING, State.FAILED]


def test_a_hold_on_a_delivery_is_exclusive(ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDBRINGER_HOME", str(tmp_path / "home"))
    key = f"{MESSAGE_ID}/0123456789abcdef/oc/mail"
    with ledger.hold(key) as first:
        with Ledger(ledger.url).hold(key) as second:
            assert (first, second) == (True, False)
        with ledger.hold(f"{MESSAGE_ID}/0123456789abcdef/hmu/mail") as other:
            assert other is True
    with ledger.hold(key) as again:
        assert again is True


def test_requests_votes_notices_and_answers_come_back_as_their_states(ledger: Ledger) -> None:
    approval = approve(ledger, variant("oc"))
    first_hash, edited_hash = "a" * 64, "b" * 64
    meeting, deadline = dt.date(2026, 12, 3), dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    request, new = ledger.open_request(MESSAGE_ID, first_hash, "Status på udbuddet", meeting, deadline)
    assert new and request.state is RequestState.OPEN and request.state == "open"
    assert (request.meeting, request.deadline) == (meeting, deadline)
    assert ledger.open_request(MESSAGE_ID, first_hash, "Status på udbuddet", meeting, deadline) == (request, False)

    assert ledger.vote(request.id, "Mette Lund", VoteDecision.APPROVE, "", "cli")
    assert not ledger.vote(request.id, "Mette Lund", "reject", "ombestemt", "cli")  # one decision per approver
    with pytest.raises(ValueError, match="approve, reject"):
        ledger.vote(request.id, "Lars Bech", "måske", "", "cli")
    [vote] = ledger.votes(request.id)
    assert (vote.voter, vote.decision, vote.source) == ("Mette Lund", VoteDecision.APPROVE, "cli")

    # Edited content needs a new request: the open one for the earlier content is void.
    edited, new = ledger.open_request(MESSAGE_ID, edited_hash, "Status på udbuddet", meeting, deadline)
    assert new and ledger.request(MESSAGE_ID, first_hash).state is RequestState.VOID  # type: ignore[union-attr]
    assert ledger.open_requests() == [edited]
    assert ledger.decide(edited.id, RequestState.APPROVED, approval_id=approval.id)
    assert not ledger.decide(edited.id, RequestState.REJECTED)  # no longer open
    decided = ledger.request(MESSAGE_ID)
    assert decided is not None and decided.state is RequestState.APPROVED and decided.approval_id == approval.id
    assert ledger.open_requests() == []

    key = f"notice/{MESSAGE_ID}/{edited_hash[:16]}/reminder-1"
    notices = ledger.notice_store
    first, owned = notices.claim(key, MESSAGE_ID, edited.id, "reminder-1", "mail")
    assert owned and (first.state, first.attempts, first.channel, first.family) == (
        State.ATTEMPTING, 1, "mail", NoticeKind.REMINDER)
    notices.finish(key, State.FAILED, error="421 try later")
    again, owned = notices.claim(key, MESSAGE_ID, edited.id, "reminder-1", "mail")
    assert owned and (again.state, again.attempts, again.error) == (State.ATTEMPTING, 2, None)  # taken up
    notices.finish(key, State.DELIVERED, Receipt("outbox", "outbox/reminder.eml"))
    done, owned = notices.claim(key, MESSAGE_ID, edited.id, "reminder-1", "mail")
    assert not owned and (done.state, done.attempts) == (State.DELIVERED, 2)
    assert done.receipt is not None and done.receipt.provider_id == "outbox/reminder.eml"
    assert ledger.notices_for(edited.id) == {"reminder-1": State.DELIVERED}
    assert [(state, detail) for _, state, detail in ledger.notice_events(key)] == [
        (State.ATTEMPTING, "first attempt"), (State.FAILED, "421 try later"), (State.ATTEMPTING, "attempt 2"),
        (State.DELIVERED, "outbox/reminder.eml")]
    with pytest.raises(ValueError, match="reminder-N"):
        notices.claim(f"notice/{MESSAGE_ID}/x/postkort", MESSAGE_ID, edited.id, "postkort")

    ledger.record_answer(MESSAGE_ID, "midtnyt", "declined")
    ledger.record_answer(MESSAGE_ID, "midtnyt", Answer.ACCEPTED, "i nummer 48")
    [answer] = ledger.answers(MESSAGE_ID)
    assert (answer.forum, answer.answer, answer.note) == ("midtnyt", Answer.ACCEPTED, "i nummer 48")
    with pytest.raises(ValueError, match="accepted, declined"):
        ledger.record_answer(MESSAGE_ID, "midtnyt", "måske")


def test_stored_states_are_the_strings_they_always_were() -> None:
    assert [s.value for s in State] == ["attempting", "delivered", "failed", "uncertain"]
    assert [s.value for s in RequestState] == ["open", "approved", "rejected", "void"]
    assert [s.value for s in VoteDecision] == ["approve", "reject"]
    assert [s.value for s in Answer] == ["accepted", "declined"]
    assert f"{State.DELIVERED}" == "delivered" and State("failed") is State.FAILED
    assert [NoticeKind.of(k) for k in ("request", "reminder-1", "reminder-12", "escalation", "rejection")] == [
        NoticeKind.REQUEST, NoticeKind.REMINDER, NoticeKind.REMINDER, NoticeKind.ESCALATION, NoticeKind.REJECTION]
    for wrong in ("reminder", "reminder-x", "request-1", "Request", ""):
        with pytest.raises(ValueError):
            NoticeKind.of(wrong)


def test_the_ledger_never_shows_a_password() -> None:
    url = "postgresql+psycopg://budbringer:hemmeligt-kodeord@db.example:5432/ledger"
    text = sa.make_url(url).render_as_string(hide_password=True)
    probe = Ledger.__new__(Ledger)
    probe.url = url
    assert "hemmeligt-kodeord" not in repr(probe)
    assert repr(probe) == f"Ledger({text!r})"
