-- Source OLTP model of the AML lakehouse (MariaDB 10.5+; database `core`). Idempotent: run on
-- every `aml services up` as user `aml`. Same tables and semantics as the PostgreSQL DDL:
-- updated_at is set by the database on every INSERT and UPDATE. The column default and
-- ON UPDATE clause alone would not move it on an UPDATE that changes no value and would accept a
-- client-supplied value, so BEFORE triggers set it unconditionally. Sessions run with
-- time_zone '+00:00', so TIMESTAMP values read back as UTC.
-- Statements end with ';' at a line end and have no BEGIN ... END bodies: the loader splits on it.

CREATE TABLE IF NOT EXISTS core.customers (
    customer_id   BIGINT       NOT NULL PRIMARY KEY,
    full_name     VARCHAR(200),
    date_of_birth DATE,
    country       CHAR(2),
    risk_rating   VARCHAR(8),
    is_pep        BOOLEAN      NOT NULL DEFAULT FALSE,
    updated_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    INDEX customers_updated_at_idx (updated_at, customer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS core.accounts (
    account_number BIGINT       NOT NULL PRIMARY KEY,
    customer_id    BIGINT,
    bank_location  VARCHAR(32),
    opened_date    DATE,
    updated_at     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    INDEX accounts_updated_at_idx (updated_at, account_number),
    INDEX accounts_customer_idx (customer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS core.transactions (
    transaction_id         BIGINT        NOT NULL PRIMARY KEY,
    time                   TIME          NOT NULL,
    date                   DATE          NOT NULL,
    sender_account         BIGINT        NOT NULL,
    receiver_account       BIGINT        NOT NULL,
    amount                 DECIMAL(14,2) NOT NULL,
    payment_currency       VARCHAR(32)   NOT NULL,
    received_currency      VARCHAR(32)   NOT NULL,
    sender_bank_location   VARCHAR(32)   NOT NULL,
    receiver_bank_location VARCHAR(32)   NOT NULL,
    payment_type           VARCHAR(32)   NOT NULL,
    is_laundering          SMALLINT      NOT NULL CHECK (is_laundering IN (0, 1)),
    laundering_type        VARCHAR(40)   NOT NULL,
    updated_at             TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    INDEX transactions_updated_at_idx (updated_at, transaction_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Which ids each bare SAML-D file (no manifest) got, by content hash: a reload is a no-op.
CREATE TABLE IF NOT EXISTS core.loaded_files (
    file_sha256          CHAR(64)     NOT NULL PRIMARY KEY,
    file_name            VARCHAR(255) NOT NULL,
    first_transaction_id BIGINT       NOT NULL,
    row_count            BIGINT       NOT NULL,
    loaded_at            TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TRIGGER IF NOT EXISTS core.customers_bi BEFORE INSERT ON core.customers
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TRIGGER IF NOT EXISTS core.customers_bu BEFORE UPDATE ON core.customers
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TRIGGER IF NOT EXISTS core.accounts_bi BEFORE INSERT ON core.accounts
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TRIGGER IF NOT EXISTS core.accounts_bu BEFORE UPDATE ON core.accounts
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TRIGGER IF NOT EXISTS core.transactions_bi BEFORE INSERT ON core.transactions
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
CREATE TRIGGER IF NOT EXISTS core.transactions_bu BEFORE UPDATE ON core.transactions
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
