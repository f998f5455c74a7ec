"""The per-message DMARC records (mailauth.records) in their LMDB table."""

from mailsuite.smtp.mailauth.records import DmarcRecord, DmarcRecords


def record(qid, disposition="none"):
    return DmarcRecord(qid, 1700000000, "192.0.2.1", "bank.test", "bank.test",
                       "fail", [["bank.test", "s1", "fail"]], "fail", "bank.test",
                       "reject", disposition)


def test_records_are_kept_in_queue_id_order(tmp_path):
    with DmarcRecords(tmp_path) as records:
        for qid in ("B", "A", "C"):
            records.add(record(qid, "reject"))
    with DmarcRecords(tmp_path) as records:
        assert [r.qid for r in records.since()] == ["A", "B", "C"]
        assert [r.qid for r in records.since("A")] == ["B", "C"]
        assert records.since("C") == []
        assert records.since()[0] == record("A", "reject")
