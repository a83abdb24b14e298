#!/usr/bin/env bash
# Times the one-off migration of decision 0023 (every product instance gets its account's DEFAULT virtual account): the
# UPDATE on N rows shaped like product instances (about 2 KB of JSON each, as with a certificate), on a throwaway
# PostgreSQL (run as root: initdb runs as the postgres user). Usage: bench/virtual-account-migration.sh [N]
set -euo pipefail
N=${1:-200000}
D=$(mktemp -d /tmp/wt14-pg.XXXX); chown postgres "$D"
PORT=$((20000 + RANDOM % 20000))
runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$D/data" -U postgres -A trust --no-sync >/dev/null
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$D/data" -o "-p $PORT -k $D -c listen_addresses=''" -l "$D/log" -w start >/dev/null
PSQL="runuser -u postgres -- psql -h $D -p $PORT -U postgres -q -t -A"
$PSQL -c "create table t (id uuid primary key, data jsonb not null)"
$PSQL -c "insert into t select gen_random_uuid(), jsonb_build_object('AccountId', '0193f1c2-0000-7000-8000-000000000001', 'Name', 'sw-'||i, 'Pid', 'C9300-24T', 'SerialNumber', 'FOC'||i, 'CertificatePem', repeat(md5(i::text), 60)) from generate_series(1, $N) i"
$PSQL -c "create index on t ((data ->> 'AccountId'))"
$PSQL -c "vacuum analyze t"
START=$(date +%s.%N)
$PSQL -c "update t set data = jsonb_set(data, '{VirtualAccountId}', data -> 'AccountId') where data -> 'VirtualAccountId' is null"
END=$(date +%s.%N)
echo "migration UPDATE of $N rows: $(echo "$END - $START" | bc) s"
START=$(date +%s.%N)
$PSQL -c "select count(*) from t where data -> 'VirtualAccountId' is null" >/dev/null
END=$(date +%s.%N)
echo "unmarked re-check scan of $N rows (what the mark avoids at each start): $(echo "$END - $START" | bc) s"
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$D/data" -m fast -w stop >/dev/null
rm -rf "$D"
