-- Partial loads: a batch that only earns or advances reads a member's pending lots and the
-- active lots due to expire, not every active lot. These indexes serve those two reads by
-- member without touching the member's spent, expired or not-yet-due lots.
CREATE INDEX lots_pending_by_member ON lots (member_id) WHERE status = 'pending';
CREATE INDEX lots_expiry_by_member ON lots (member_id, expires_at) WHERE status = 'active' AND remaining > 0;
