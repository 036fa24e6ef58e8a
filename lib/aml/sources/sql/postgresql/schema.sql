-- Source OLTP model of the AML lakehouse (PostgreSQL 14+). Idempotent: run on every
-- `aml services up` as the owning user `aml` in database `aml`.
--
-- core.transactions carries the 12 SAML-D columns unchanged (reference/saml_d.md), plus the
-- surrogate key transaction_id (assigned by the loader in file order) and updated_at, which the
-- database sets on every INSERT and UPDATE so that incremental JDBC ingestion can page by
-- (updated_at, transaction_id). updated_at is UTC, microsecond precision, statement time (the
-- same value MariaDB's CURRENT_TIMESTAMP(6) gives). No foreign keys: a SAML-D feed references
-- counterparty accounts held at other banks, which core.accounts (own accounts) never lists.

CREATE SCHEMA IF NOT EXISTS core;

CREATE OR REPLACE FUNCTION core.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := statement_timestamp() AT TIME ZONE 'UTC';
    RETURN NEW;
END
$$;

CREATE TABLE IF NOT EXISTS core.customers (
    customer_id   BIGINT       PRIMARY KEY,
    full_name     VARCHAR(200),
    date_of_birth DATE,
    country       CHAR(2),
    risk_rating   VARCHAR(8),
    is_pep        BOOLEAN      NOT NULL DEFAULT FALSE,
    updated_at    TIMESTAMP(6) NOT NULL DEFAULT (statement_timestamp() AT TIME ZONE 'UTC')
);

CREATE TABLE IF NOT EXISTS core.accounts (
    account_number BIGINT       PRIMARY KEY,
    customer_id    BIGINT,
    bank_location  VARCHAR(32),
    opened_date    DATE,
    updated_at     TIMESTAMP(6) NOT NULL DEFAULT (statement_timestamp() AT TIME ZONE 'UTC')
);

CREATE TABLE IF NOT EXISTS core.transactions (
    transaction_id         BIGINT        PRIMARY KEY,
    time                   TIME          NOT NULL,
    date                   DATE          NOT NULL,
    sender_account         BIGINT        NOT NULL,
    receiver_account       BIGINT        NOT NULL,
    amount                 NUMERIC(14,2) NOT NULL,
    payment_currency       VARCHAR(32)   NOT NULL,
    received_currency      VARCHAR(32)   NOT NULL,
    sender_bank_location   VARCHAR(32)   NOT NULL,
    receiver_bank_location VARCHAR(32)   NOT NULL,
    payment_type           VARCHAR(32)   NOT NULL,
    is_laundering          SMALLINT      NOT NULL CHECK (is_laundering IN (0, 1)),
    laundering_type        VARCHAR(40)   NOT NULL,
    updated_at             TIMESTAMP(6)  NOT NULL DEFAULT (statement_timestamp() AT TIME ZONE 'UTC')
);

-- Bare SAML-D files have no manifest: the loader remembers which ids it gave each file, by
-- content hash, so loading the same file again is a no-op instead of a second copy.
CREATE TABLE IF NOT EXISTS core.loaded_files (
    file_sha256          CHAR(64)     PRIMARY KEY,
    file_name            VARCHAR(255) NOT NULL,
    first_transaction_id BIGINT       NOT NULL,
    row_count            BIGINT       NOT NULL,
    loaded_at            TIMESTAMP(6) NOT NULL DEFAULT (statement_timestamp() AT TIME ZONE 'UTC')
);

CREATE INDEX IF NOT EXISTS transactions_updated_at_idx
    ON core.transactions (updated_at, transaction_id);
CREATE INDEX IF NOT EXISTS customers_updated_at_idx ON core.customers (updated_at, customer_id);
CREATE INDEX IF NOT EXISTS accounts_updated_at_idx ON core.accounts (updated_at, account_number);
CREATE INDEX IF NOT EXISTS accounts_customer_idx ON core.accounts (customer_id);

CREATE OR REPLACE TRIGGER customers_set_updated_at
    BEFORE INSERT OR UPDATE ON core.customers
    FOR EACH ROW EXECUTE FUNCTION core.set_updated_at();
CREATE OR REPLACE TRIGGER accounts_set_updated_at
    BEFORE INSERT OR UPDATE ON core.accounts
    FOR EACH ROW EXECUTE FUNCTION core.set_updated_at();
CREATE OR REPLACE TRIGGER transactions_set_updated_at
    BEFORE INSERT OR UPDATE ON core.transactions
    FOR EACH ROW EXECUTE FUNCTION core.set_updated_at();
