-- Bounds on every statement of the application, as database defaults (new sessions pick them up). Set here rather
-- than with SET on each connection: a SET pins the client to one backend behind RDS Proxy.
--   statement_timeout: a statement answers within it or is cancelled (the API function's timeout is 15 s);
--   lock_timeout: longer than any lock the application holds on purpose (/start holds a session row for at most
--     one Cloudflare call of 4 s);
--   idle_in_transaction_session_timeout: a client that died inside a transaction does not keep its locks.
-- The migration runner itself overrides them for its own session (DDL may take longer).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '10s');
    EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '6s');
    EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '30s');
END
$$;
