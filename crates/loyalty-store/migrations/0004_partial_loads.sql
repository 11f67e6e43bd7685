-- Partial loads: a batch that only earns or advances reads a member's pending lots and the
-- active lots due to expire, not every active lot. These indexes serve those two reads by
-- member without touching the member's spent, expired or not-yet-due lots.
CREATE INDEX lots_pending_by_member ON lots (member_id) WHERE status = 'pending';
CREATE INDEX lots_expiry_by_member ON lots (member_id, expires_at) WHERE status = 'active' AND remaining > 0;

-- Growth for a write: entries near the window's start one by one, the rest of the window as
-- one sum per member. With amount in the index, both are read from the index alone; it
-- replaces the index on (member_id, at).
CREATE INDEX growth_entries_at_amount ON growth_entries (member_id, at, amount);
DROP INDEX growth_entries_at;
