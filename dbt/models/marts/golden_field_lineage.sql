{#- Where each golden value came from: the source record and the rule that chose it, or the
    steward who corrected it. Survivorship is the same macro golden_customers uses. -#}
with

records as (
    select * from {{ ref('int_customer_records') }}
),

xref as (
    select
        record_key,
        golden_customer_id
    from {{ ref('customer_source_xref') }}
),

corrections as (
    select * from {{ ref('int_steward_corrections__latest') }}
),

resolved_records as (
    select
        xref.golden_customer_id,
        records.*
    from records
    inner join xref on records.record_key = xref.record_key
),

survived_fields as (
    {{ survive_golden_fields('resolved_records') }}
),

supplied as (
    {%- for spec in golden_fields() %}
        select
            golden_customer_id,
            '{{ spec.golden }}' as field,
            {{ spec.golden }}__record_key as record_key,
            '{{ survival_rule(spec.field) }}' as rule
        from survived_fields
        where {{ spec.golden }}__record_key is not null
        union all
    {%- endfor %}
    {%- for part in address_parts() %}
        select
            golden_customer_id,
            '{{ part }}' as field,
            {{ part }}__record_key as record_key,
            case
                when address_line__record_key is not null then 'with_address_line'
                else 'trust_rank'
            end as rule
        from survived_fields
        where {{ part }}__record_key is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

final as (
    select
        coalesce(supplied.golden_customer_id, corrections.golden_customer_id)
            as golden_customer_id,
        coalesce(supplied.field, corrections.field) as field,
        case when corrections.field is null then supplied.record_key end as record_key,
        case
            when corrections.field is null then split_part(supplied.record_key, ':', 1)
        end as source_name,
        case
            when corrections.field is not null then 'steward_correction' else supplied.rule
        end as rule,
        corrections.corrected_by,
        corrections.corrected_at
    from supplied
    full outer join corrections
        on
            supplied.golden_customer_id = corrections.golden_customer_id
            and supplied.field = corrections.field
    -- A correction of a customer whose records have all gone (erased) has nothing to explain.
    where
        coalesce(supplied.golden_customer_id, corrections.golden_customer_id)
        in (select survived_fields.golden_customer_id from survived_fields)
)

select * from final
