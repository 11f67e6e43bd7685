-- Growth tiers (issue 3): the member's current tier code (NULL = the base tier).
ALTER TABLE members ADD COLUMN tier TEXT;
