-- +goose Up
-- Connections per mailbox towards an endpoint, per side (the endpoint as a
-- source, as a destination), lowered when the server throttles and won
-- back after throttle-free passes (service.adjustConnections). They live
-- here, not in a worker's memory, so that every worker on one PostgreSQL
-- database shares them and a restart keeps them. *_connections = 0 means not
-- lowered: the count the service is configured with. *_calm counts the
-- throttle-free passes since the last change.
ALTER TABLE endpoints ADD COLUMN source_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN source_calm        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN dest_connections   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN dest_calm          INTEGER NOT NULL DEFAULT 0;

-- Finished passes in a row in which the destination answered APPENDs with
-- Exchange's "Server Unavailable": after a few, the user is Blocked as
-- possibly over quota at the destination.
ALTER TABLE batch_users ADD COLUMN unavailable_passes INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE batch_users DROP COLUMN unavailable_passes;
ALTER TABLE endpoints DROP COLUMN dest_calm;
ALTER TABLE endpoints DROP COLUMN dest_connections;
ALTER TABLE endpoints DROP COLUMN source_calm;
ALTER TABLE endpoints DROP COLUMN source_connections;
