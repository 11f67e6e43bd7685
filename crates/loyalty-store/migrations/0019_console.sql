-- The operator console and the member centre (issue 19).
--
-- `console_sessions`: one row per signed-in operator. The cookie holds a random id; the row is
-- keyed by its SHA-256 only, so the table signs nobody in. `key_hash` is the API key the
-- operator signed in with, checked again on every request, so a revoked key ends its
-- sessions at once. `last_seen_at` is written at most once a minute; a session is over when it
-- has been idle for the idle timeout or at `expires_at` (the absolute end), whichever comes
-- first, and rows past either are deleted at the next sign-in.
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    scope        TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Secrets the engine makes for itself, by name: the member centre's token key. The first node
-- to start stores one (`ON CONFLICT DO NOTHING`) and every node reads that one, so a token
-- signed by one node is good on all of them. Never shown by any API.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The console finds members by phone and email with one index probe each, on the forms the
-- referral rules compare (`engagement::referral::normalise_phone` / `normalise_email`): a
-- phone's digits (a stored phone holds only digits, spaces and + - ( )), an email trimmed and
-- lower-cased. Expression indexes, so the write path and the stored rows are unchanged, and an
-- erased member (phone and email null) drops out of them; partial, so members without one
-- cost nothing.
CREATE INDEX members_phone_digits
    ON members (replace(replace(replace(replace(replace(phone, ' ', ''), '+', ''), '-', ''), '(', ''), ')', ''))
    WHERE phone IS NOT NULL;
CREATE INDEX members_email_lower ON members (lower(trim(email))) WHERE email IS NOT NULL;
