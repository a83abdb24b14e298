-- Evidence for bench/sync.sh's bottleneck: EXPLAIN ANALYZE of SyncRunner's claim on 1M usage records, current
-- indexes vs. a partial index of unsent items. Run on an empty scratch database: psql -X -f bench/sync-claim-explain.sql
\timing on
create schema ssm;
create table ssm.mt_doc_usagerecord (id uuid primary key, data jsonb not null, mt_last_modified timestamptz default transaction_timestamp(), mt_version uuid not null, mt_dotnet_type varchar);
create index mt_doc_usagerecord_idx_account_id on ssm.mt_doc_usagerecord ((((data ->> 'AccountId'))::uuid));
create index mt_doc_usagerecord_idx_upload_batch on ssm.mt_doc_usagerecord (((data ->> 'UploadBatch')));
insert into ssm.mt_doc_usagerecord (id, data, mt_last_modified, mt_version, mt_dotnet_type) select (lpad(to_hex(x'019a00000000'::bigint + g), 12, '0') || '7000' || '8' || substr(md5('u' || g), 1, 15))::uuid, jsonb_build_object('Id', (lpad(to_hex(x'019a00000000'::bigint + g), 12, '0') || '7000' || '8' || substr(md5('u' || g), 1, 15))::uuid, 'AccountId', '01a21978-0846-7000-8000-000000000000'::uuid, 'InstanceId', (lpad(to_hex(x'019a00000000'::bigint + (1 + g % 100000)), 12, '0') || '7000' || '8' || substr(md5('i' || (1 + g % 100000)), 1, 15))::uuid, 'ReportId', 'rum-' || (g / 10), 'Tag', 'regid.2017-07.com.cisco.DNA_Advantage,1.0_' || (g % 4), 'Count', 1 + g % 5, 'From', '2026-01-01T00:00:00+00:00', 'To', '2026-01-02T00:00:00+00:00', 'ReceivedAt', '2026-01-02T00:00:05+00:00', 'UploadBatch', null), transaction_timestamp(), gen_random_uuid(), 'Ssm.Domain.Products.UsageRecord' from generate_series(1, 1000000) g;
vacuum analyze ssm.mt_doc_usagerecord;
\echo === A1 current claim, nothing claimed yet
begin;
explain (analyze, buffers) update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-first'::text))
where id in (select id from ssm.mt_doc_usagerecord where data ->> 'AccountId' = '01a21978-0846-7000-8000-000000000000' and data ->> 'UploadBatch' is null order by id limit 2500 for update skip locked);
rollback;
\echo === mark half of them claimed (as after 200 batches)
update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-' || ((id::text)))) where id in (select id from ssm.mt_doc_usagerecord order by id limit 500000);
vacuum analyze ssm.mt_doc_usagerecord;
\echo === A2 current claim, half claimed
begin;
explain (analyze, buffers) update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-mid'::text))
where id in (select id from ssm.mt_doc_usagerecord where data ->> 'AccountId' = '01a21978-0846-7000-8000-000000000000' and data ->> 'UploadBatch' is null order by id limit 2500 for update skip locked);
rollback;
\echo === C1 pending count (as UploadAsync: Marten LINQ)
explain (analyze, buffers) select count(*) from ssm.mt_doc_usagerecord as d where CAST(d.data ->> 'AccountId' as uuid) = '01a21978-0846-7000-8000-000000000000' and d.data ->> 'UploadBatch' is null;
\echo === S1 items of one batch (ItemsOf)
explain (analyze, buffers) select d.data from ssm.mt_doc_usagerecord as d where d.data ->> 'UploadBatch' = 'b-' || (select id::text from ssm.mt_doc_usagerecord order by id offset 1000 limit 1);
\echo === proposed: partial index of unsent items per account in id order
create index mt_doc_usagerecord_idx_unsent on ssm.mt_doc_usagerecord ((((data ->> 'AccountId'))::uuid), id) where (data ->> 'UploadBatch') is null;
analyze ssm.mt_doc_usagerecord;
\echo === B2 proposed claim (uuid-typed account predicate), half claimed
begin;
explain (analyze, buffers) update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-mid'::text))
where id in (select id from ssm.mt_doc_usagerecord where (data ->> 'AccountId')::uuid = '01a21978-0846-7000-8000-000000000000'::uuid and data ->> 'UploadBatch' is null order by id limit 2500 for update skip locked);
rollback;
\echo === B2b current claim text (unchanged SQL) with the partial index present
begin;
explain (analyze, buffers) update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-mid'::text))
where id in (select id from ssm.mt_doc_usagerecord where data ->> 'AccountId' = '01a21978-0846-7000-8000-000000000000' and data ->> 'UploadBatch' is null order by id limit 2500 for update skip locked);
rollback;
\echo === C2 pending count with the partial index
explain (analyze, buffers) select count(*) from ssm.mt_doc_usagerecord as d where CAST(d.data ->> 'AccountId' as uuid) = '01a21978-0846-7000-8000-000000000000' and d.data ->> 'UploadBatch' is null;
\echo === B3 alternative: partial index on the claims own text expression (claim SQL unchanged)
drop index ssm.mt_doc_usagerecord_idx_unsent;
create index mt_doc_usagerecord_idx_unsent_text on ssm.mt_doc_usagerecord (((data ->> 'AccountId')), id) where (data ->> 'UploadBatch') is null;
analyze ssm.mt_doc_usagerecord;
begin;
explain (analyze, buffers) update ssm.mt_doc_usagerecord set data = jsonb_set(data, '{UploadBatch}', to_jsonb('b-mid'::text))
where id in (select id from ssm.mt_doc_usagerecord where data ->> 'AccountId' = '01a21978-0846-7000-8000-000000000000' and data ->> 'UploadBatch' is null order by id limit 2500 for update skip locked);
rollback;
