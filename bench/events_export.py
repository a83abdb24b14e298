"""Measurements for bench/events-export.sh (Python 3 standard library only).

Starts `ssm node`, seeds the Event Log with generate_series, downloads the CSV export while sampling the node's
memory, and always stops the node. The admin password comes from SSM_ADMIN_PASSWORD, PostgreSQL's from PGPASSWORD.
"""
import argparse
import http.client
import json
import os
import subprocess
import threading
import time

from benchlib import BenchError, Process, Session, cookie_header, pinned_context, progress, run, wait_until

HOST = "127.0.0.1"


class Psql:
    def __init__(self, args):
        self.base = [args.psql, "-h", HOST, "-p", str(args.pg_port), "-U", "postgres", "-d", "ssm",
                     "-v", "ON_ERROR_STOP=1", "-qAtX"]

    def run(self, sql):
        result = subprocess.run(self.base + ["-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise BenchError(f"psql failed: {result.stderr}\nSQL: {sql[:2000]}")
        return result.stdout.strip()

    def copy_out_bytes(self, sql):
        """Runs COPY (sql) TO STDOUT WITH CSV and returns (bytes, seconds), reading the output as it comes."""
        started = time.perf_counter()
        process = subprocess.Popen(self.base + ["-c", f"copy ({sql}) to stdout with (format csv, header)"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        total = 0
        while chunk := process.stdout.read(1 << 20):
            total += len(chunk)
        if process.wait() != 0:
            raise BenchError(f"psql copy failed: {process.stderr.read()!r}")
        return total, time.perf_counter() - started


class Sampler(threading.Thread):
    """The node's VmRSS every 50 ms; peak is the highest seen."""

    def __init__(self, process):
        super().__init__(daemon=True)
        self.process, self.peak, self.running = process, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.process.status_kib("VmRSS"))
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.join()


def seed(psql, count):
    """Event Log rows the way Marten writes them (enums as their numbers, as a real row shows), one per second."""
    sample = json.loads(psql.run("select data from ssm.mt_doc_eventlogentry limit 1"))
    if not isinstance(sample["Category"], int) or not isinstance(sample["Outcome"], int):
        raise BenchError(f"Event Log enums are not stored as numbers any more: {sample}")
    columns = psql.run("select string_agg(column_name, ',') from information_schema.columns "
                       "where table_schema = 'ssm' and table_name = 'mt_doc_eventlogentry'").split(",")
    extra = set(columns) - {"id", "data", "mt_last_modified", "mt_version", "mt_dotnet_type"}
    if extra:
        raise BenchError(f"ssm.mt_doc_eventlogentry has columns this benchmark does not fill: {extra}")
    # Every tenth detail needs quoting (a comma and a quote), every hundredth subject is a formula to defuse.
    psql.run(
        "insert into ssm.mt_doc_eventlogentry (id, data, mt_last_modified, mt_version, mt_dotnet_type) "
        "select gen_random_uuid(), jsonb_build_object("
        "'Id', gen_random_uuid(), "
        "'At', to_char((timestamptz '2026-01-01' + g * interval '1 second') at time zone 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'), "
        "'Actor', 'bench-admin', 'Category', g % 5, 'Action', 'CreateAccount', "
        "'Subject', case when g % 100 = 0 then '=SUM(A' || g || ')' else 'Account ' || g end, "
        "'Outcome', g % 2, "
        "'Detail', case when g % 10 = 0 then 'refused, \"already exists\" ' || g else 'created ' || g end), "
        "transaction_timestamp(), gen_random_uuid(), 'Ssm.Domain.Events.EventLogEntry' "
        f"from generate_series(1, {count}) g")
    psql.run("analyze ssm.mt_doc_eventlogentry")


def download(context, port, cookies, path):
    """GETs PATH and reads the body in 1 MiB pieces; returns (status, bytes, lines, first_byte_s, total_s)."""
    connection = http.client.HTTPSConnection(HOST, port, timeout=600, context=context)
    started = time.perf_counter()
    connection.request("GET", path, headers=cookie_header(cookies, {"Accept": "text/csv"}))
    response = connection.getresponse()
    first = None
    total = lines = 0
    while chunk := response.read(1 << 20):
        if first is None:
            first = time.perf_counter() - started
        total += len(chunk)
        lines += chunk.count(b"\n")  # no field holds a line break here; "\r\n" may straddle two pieces
    elapsed = time.perf_counter() - started
    connection.close()
    return response.status, total, lines, first or elapsed, elapsed


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    parser = argparse.ArgumentParser()
    for name in ("--app", "--db", "--data", "--log", "--pid-file", "--psql"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--pg-port", type=int, required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    password = os.environ.get("SSM_ADMIN_PASSWORD", "")

    psql = Psql(args)
    node = Process("the node", [args.app, "node", "--name", "bench", "--listen", f"http://{HOST}:{args.port}",
                                "--https-port", str(args.https_port), "--db", args.db, "--data", args.data],
                   args.log, args.pid_file)
    report = []
    try:
        probe = Session(HOST, args.port, timeout=5)
        wait_until("the node's /health/ready", lambda: probe.send("GET", "/health/ready")[0] == 200, 180, node.check)
        context = pinned_context([HOST], args.https_port)
        admin = Session(HOST, args.https_port, context, timeout=60)
        status, data = admin.send("POST", "/api/session", json.dumps({"userName": "admin", "password": password}).encode())
        if status != 200:
            raise BenchError(f"login failed: {status} {data[:300]!r}")

        progress(f"Seeding {args.events} Event Log entries")
        t = time.perf_counter()
        seed(psql, args.events)
        total_rows = int(psql.run("select count(*) from ssm.mt_doc_eventlogentry"))
        size = psql.run("select pg_size_pretty(pg_total_relation_size('ssm.mt_doc_eventlogentry'))")
        report.append(f"seeded {args.events} entries in {time.perf_counter() - t:.1f} s  (table now {total_rows} rows, {size})")

        progress("Raw baseline: COPY of the same rows out of PostgreSQL as CSV")
        raw_bytes, raw_s = psql.copy_out_bytes(
            "select data->>'At', data->>'Actor', data->>'Category', data->>'Action', data->>'Subject', "
            "data->>'Outcome', data->>'Detail' from ssm.mt_doc_eventlogentry order by ssm.mt_immutable_timestamptz(data->>'At') desc")

        time.sleep(2)
        rss_before = node.status_kib("VmRSS")
        sampler = Sampler(node)
        sampler.start()
        progress("Downloading GET /api/events.csv")
        status, body_bytes, lines, first_s, total_s = download(context, args.https_port, admin.cookies, "/api/events.csv")
        sampler.stop()
        if status != 200:
            raise BenchError(f"GET /api/events.csv answered {status}")
        rows = lines - 1
        if rows != total_rows:
            raise BenchError(f"the export has {rows} rows, the table {total_rows}")

        report.append(f"GET /api/events.csv: {rows} rows, {body_bytes / 1e6:.1f} MB in {total_s:.2f} s  "
                      f"= {rows / total_s:,.0f} rows/s, {body_bytes / 1e6 / total_s:.1f} MB/s; first byte after {first_s * 1000:.0f} ms")
        report.append(f"node VmRSS before the export {mib(rss_before)}, peak during it {mib(sampler.peak)} "
                      f"(+{mib(max(0, sampler.peak - rss_before))})")
        report.append(f"raw baseline, psql COPY ... TO STDOUT CSV of the same rows: {raw_bytes / 1e6:.1f} MB in {raw_s:.2f} s "
                      f"= {total_rows / raw_s:,.0f} rows/s  (export / raw time: {total_s / raw_s:.1f}x)")

        progress("Downloading a filtered export (category=Security)")
        status, body_bytes, lines, first_s, total_s = download(context, args.https_port, admin.cookies,
                                                               "/api/events.csv?category=Security&sort=OldestFirst")
        report.append(f"GET /api/events.csv?category=Security: {lines - 1} rows in {total_s:.2f} s "
                      f"= {(lines - 1) / total_s:,.0f} rows/s; first byte after {first_s * 1000:.0f} ms")
    finally:
        node.stop()
    print("\n".join(report), flush=True)


if __name__ == "__main__":
    run(main)
