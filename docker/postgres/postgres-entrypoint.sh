#!/bin/sh
# Entry point of localhost/ssm-postgres:15 (docker/postgres/Dockerfile), for a server on its own as Testcontainers starts
# one: `postgres [-c name=value ...]` (arguments that start with "-" go to postgres) makes a database cluster in $PGDATA
# on the first start, with the superuser POSTGRES_USER (default postgres) whose password is POSTGRES_PASSWORD (required)
# and the database POSTGRES_DB (default: the user's name), then runs PostgreSQL in the foreground as the postgres user,
# listening on every address of the container (password logins only, scram-sha-256). Anything else is run as it is.
set -eu
case "${1:-postgres}" in -*) set -- postgres "$@" ;; esac
[ $# -eq 0 ] && set -- postgres
[ "$1" = postgres ] || exec "$@"
shift

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (the superuser's password)}"
  install -d -o postgres -g postgres -m 700 "$PGDATA"
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  chown postgres "$password_file"
  as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" -A scram-sha-256 --auth-local=peer \
    -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  rm -f "$password_file"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\" OWNER \"$user\"" | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "$PGDATA" -c listen_addresses='*' "$@"
