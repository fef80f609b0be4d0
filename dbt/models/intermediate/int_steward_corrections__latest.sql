{#- The correction in force for each golden field: the latest a steward made. A correction made
    on an ID that has since merged into another follows it there (er.golden_ids). Reads what
    resolution writes, so it runs after it, with the marts. -#}
{{ config(tags=['after_resolution']) }}

with

corrections as (
    select * from {{ source('er', 'steward_corrections') }}
),

golden_ids as (
    select
        golden_customer_id,
        resolved_golden_customer_id
    from {{ source('er', 'golden_ids') }}
),

followed as (
    select
        coalesce(golden_ids.resolved_golden_customer_id, corrections.golden_customer_id)
            as golden_customer_id,
        corrections.field,
        corrections.corrected_value,
        corrections.corrected_by,
        corrections.corrected_at,
        corrections.correction_id
    from corrections
    left join golden_ids on corrections.golden_customer_id = golden_ids.golden_customer_id
),

final as (
    select *
    from followed
    qualify row_number() over (
        partition by golden_customer_id, field
        order by corrected_at desc, correction_id desc
    ) = 1
)

select * from final
