-- 0007_record_extras: what the record API needs beyond 0003.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

-- The changes feed orders a member's changes by the writing transaction, then seq. A seq is taken when
-- the row is written, not when its transaction commits, so reading by seq alone could hand out a cursor
-- past a change that commits later and lose it. The feed reads only rows whose transaction is older than
-- every transaction still running (pg_snapshot_xmin), in (txid, seq) order: anything committed later
-- sorts after every cursor already given out.
ALTER TABLE change_log ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX change_log_member_txid_idx ON change_log (member_id, txid, seq);
