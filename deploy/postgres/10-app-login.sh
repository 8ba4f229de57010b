#!/bin/sh
# The application's own login: the role named in WA_DATABASE_APP_URL (wa_app_login), with
# that URL's password. It is NOT the tables' owner (POSTGRES_USER, who migrates) and has
# no superuser or BYPASSRLS attribute, so row-level security binds every statement it
# sends: no `RESET ROLE` or `SET ROLE` to the owner gets out of the tenant wall, and it
# cannot alter the owner's tables. Privileges come through the NOLOGIN role wa_app
# (granted on every table by migration 0003); it may also SET ROLE wa_relay (the outbox
# relay, 0004) without inheriting its every-tenant policy (PostgreSQL 16+).
#
# Runs from /docker-entrypoint-initdb.d on the first start of an empty volume (see
# docker-compose.yml); safe to run again (e.g. to change the password):
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-app-login.sh
# The password must be URL-safe as written (letters and digits: openssl rand -hex 24).
#
# A subshell: the entrypoint sources this file, and an error must fail the init without
# `exit` ending the entrypoint's own shell.
(
  set -eu
  url="${WA_DATABASE_APP_URL:?set WA_DATABASE_APP_URL (see .env.example)}"
  credentials="${url#*://}"
  credentials="${credentials%%@*}"
  case "$credentials" in
    *:?*) ;;
    *) echo "10-app-login.sh: WA_DATABASE_APP_URL has no password" >&2; exit 1 ;;
  esac
  app_user="${credentials%%:*}"
  app_password="${credentials#*:}"

  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" \
    -v app_user="$app_user" -v app_password="$app_password" <<'EOSQL'
-- The migrations create these too (0003, 0004) and skip them when they exist.
SELECT 'CREATE ROLE wa_app NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wa_app') \gexec
SELECT 'CREATE ROLE wa_relay NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wa_relay') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
  INHERIT PASSWORD :'app_password';
GRANT wa_app TO :"app_user";
GRANT wa_relay TO :"app_user" WITH INHERIT FALSE, SET TRUE;
EOSQL
)
