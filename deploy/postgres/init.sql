-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER, who therefore owns these databases. One database per stateful service; the gateway
-- has none. Each service applies its own migrations at start-up.
CREATE DATABASE "auth";
CREATE DATABASE "session";
CREATE DATABASE "billing";
CREATE DATABASE "diagnostics";
CREATE DATABASE "analytics";
