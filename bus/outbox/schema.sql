-- OPD Bus transactional outbox: one row per event an OPD system wants published.
--
-- Rows are written by `bus.outbox.add_event(conn, ...)` inside the OPD application's own
-- transaction, so an event exists exactly when the business change it describes committed.
-- `bus outbox relay` publishes unsent rows in id order per (topic, key) and sets `sent_at`,
-- `partition` and "offset" only after the broker acknowledged. A row the catalog does not allow
-- (or the broker refuses) gets `failed_at` and its reason in `last_error`, and is never sent. Sent rows are kept as evidence;
-- delete old ones with your own retention job, e.g.
--   DELETE FROM bus_outbox WHERE sent_at < now() - interval '30 days';
CREATE TABLE IF NOT EXISTS bus_outbox (
    id             bigserial PRIMARY KEY,               -- commit order per key (see add_event)
    event_id       text NOT NULL UNIQUE,                -- CloudEvents id
    event_type     text NOT NULL,                       -- CloudEvents type
    source_system  text NOT NULL,                       -- catalog system id of the publisher
    source         text NOT NULL,                       -- CloudEvents source, /riau/<opd>/<name>
    dataschema     text,
    topic          text NOT NULL,
    key            text NOT NULL,                       -- Kafka key: the event type's key field
    data           json NOT NULL,                       -- validated data, bytes kept verbatim
    event_time     timestamptz NOT NULL,
    correlation_id text,
    traceparent    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,                         -- NULL until the broker acknowledged
    partition      int,
    "offset"       bigint,
    attempts       int NOT NULL DEFAULT 0,
    last_error     text,                                -- why the last attempt failed
    failed_at      timestamptz                          -- set when the relay refused the row
);
-- Tables created before refused rows were kept apart (`bus outbox failed` lists them).
ALTER TABLE bus_outbox ADD COLUMN IF NOT EXISTS failed_at timestamptz;
CREATE INDEX IF NOT EXISTS bus_outbox_unsent
    ON bus_outbox (id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS bus_outbox_unsent_by_key
    ON bus_outbox (topic, key, id) WHERE sent_at IS NULL;

-- Rows a relay round is sending, committed before the first send: after a crash the next round
-- looks for them on the topic instead of sending them again (see bus/outbox/relay.py).
CREATE TABLE IF NOT EXISTS bus_outbox_sending (
    id    bigint PRIMARY KEY,                           -- bus_outbox.id
    since timestamptz NOT NULL
);
