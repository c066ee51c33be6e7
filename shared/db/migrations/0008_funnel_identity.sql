-- Pipeline D: a message's identity is (channel, source, message_id), not its id alone — the
-- generic webhook's "1" on two channels, or one WhatsApp id seen by two business numbers, are
-- different messages. `source` is WhatsApp's phone_number_id (empty for generic messages).
-- Rows stored before this migration keep source '' (their ids were unique, so the new key holds).
ALTER TABLE funnel.message ADD COLUMN source text NOT NULL DEFAULT '';
ALTER TABLE funnel.message DROP CONSTRAINT message_pkey;
ALTER TABLE funnel.message ADD PRIMARY KEY (channel, source, message_id);
