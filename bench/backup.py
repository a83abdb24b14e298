"""Measurements for bench/backup.sh (Python 3 standard library only).

Runs `ssm admin set-password` (which applies the schema), seeds product instances straight into PostgreSQL the way
bench/sync.py does, then times `ssm backup` and `ssm restore` as an operator runs them.
"""
import argparse
import os
import resource
import subprocess
import time
import uuid

from benchlib import BenchError, progress, run
from sync import Psql, seed_sql


def ssm(app, *arguments, env=None):
    """Runs one ssm verb; returns (seconds, peak resident KiB of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run([app, *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"ssm {' '.join(arguments[:1])} exited with {result.returncode}: {result.stdout}{result.stderr}")
    progress(result.stdout.strip())
    # ru_maxrss of children is the largest of any child so far: report it only when this one raised it.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak if peak > before else None


def main():
    parser = argparse.ArgumentParser()
    for name in ("--app", "--db", "--work", "--psql"):
        parser.add_argument(name, required=True)
    parser.add_argument("--pg-port", type=int, required=True)
    parser.add_argument("--instances", type=int, default=1_000_000)
    args = parser.parse_args()
    passphrase = {"SSM_BACKUP_PASSPHRASE": "bench-backup-passphrase"}

    progress("Applying the schema (ssm admin set-password)")
    ssm(args.app, "admin", "set-password", "--user", "admin", "--db", args.db)
    psql = Psql(args)
    progress(f"Seeding {args.instances} product instances")
    psql.script(seed_sql(psql, str(uuid.uuid4()), 1, args.instances, "instance", args.instances)
                + "\nanalyze;")
    size = psql.run("select pg_size_pretty(pg_database_size('ssm'))")

    out = os.path.join(args.work, "ssm.backup")
    backup_s, backup_kib = ssm(args.app, "backup", "--out", out, "--db", args.db, env=passphrase)
    file_mb = os.path.getsize(out) / 1e6

    psql.run("create database ssm_restore")
    restore_db = args.db.replace("Database=ssm", "Database=ssm_restore")
    restore_s, restore_kib = ssm(args.app, "restore", "--from", out, "--db", restore_db, env=passphrase)
    other = list(psql.base)
    other[other.index("-d") + 1] = "ssm_restore"
    restored = subprocess.run(other + ["-c", "select count(*) from ssm.mt_doc_productinstance"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    if int(restored) != args.instances:
        raise BenchError(f"restored {restored} product instances of {args.instances}")

    def mib(kib):
        return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"

    print(f"{args.instances} product instances, database {size}")
    print(f"ssm backup:  {backup_s:.1f} s, file {file_mb:.0f} MB ({file_mb / backup_s:.0f} MB/s), peak memory {mib(backup_kib)}")
    print(f"ssm restore: {restore_s:.1f} s onto an empty database ({args.instances / restore_s:,.0f} instances/s), "
          f"peak memory {mib(restore_kib)}; {restored} instances back", flush=True)


if __name__ == "__main__":
    run(main)
