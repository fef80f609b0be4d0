{#- Every source record and the golden customer it belongs to. A left join, so a record the
    resolver missed shows up as a null golden_customer_id and fails the not_null test instead
    of silently vanishing. -#}
with

records as (
    select * from {{ ref('int_customer_records') }}
),

clusters as (
    select * from {{ source('er', 'record_clusters') }}
),

final as (
    select
        records.record_key,
        clusters.golden_customer_id,
        records.source_name,
        records.source_record_id,
        records.first_seen_date,
        records.last_seen_date,
        records.latest_partition_date
    from records
    left join clusters on records.record_key = clusters.record_key
)

select * from final
