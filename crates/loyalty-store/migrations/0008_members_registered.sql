-- Member insight lists each range's members registered by the analysis instant. Through the
-- primary key that is a seek into the members table per member, to read registered_at; this
-- narrow index answers it alone (at 1 M members: 0.15 s of SQLite's time down to 0.09 s).
CREATE INDEX members_registered ON members (member_id, registered_at);
