{#- One golden customer per resolved cluster: each field survives by the rule governance.yaml
    sets for it (macros/survive.sql), a steward's correction wins over every rule, and the
    enrichment analysts ask for (first/last seen, sources, lifecycle, completeness). -#}
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

-- One column per correctable field, so a correction replaces the survived value below.
-- noqa: disable=LT02
corrected_fields as (
    select
        golden_customer_id,
        {%- for spec in golden_fields() + address_parts_specs() %}
            max(corrected_value) filter (
                where field = '{{ spec.golden }}'
            ) as {{ spec.golden }}{{ ',' if not loop.last }}
        {%- endfor %}
    from corrections
    group by golden_customer_id
),
-- noqa: enable=LT02

activity as (
    select
        golden_customer_id,
        max(last_interaction_at) as last_interaction_at,
        -- A customer who never called is as active as the latest update any system made.
        max(coalesce(last_interaction_at, updated_at)) as last_activity_at,
        min(first_seen_date) as first_seen_date,
        max(last_seen_date) as last_seen_date,
        count(*) as source_record_count,
        list_sort(list_distinct(list(source_name))) as sources_present
    from resolved_records
    group by golden_customer_id
),

-- Lifecycle is judged against the latest delivery day, not the wall clock, so a rerun of an
-- old day gives the same answer.
as_of as (
    select max(latest_partition_date) as as_of_date from records
),

final as (
    select
        survived_fields.golden_customer_id,
        {%- for spec in golden_fields()[:10] + address_parts_specs() + golden_fields()[10:] %}
            {%- set golden = spec.golden %}
            {%- if golden == 'date_of_birth' %}
                coalesce(try_cast(corrected_fields.{{ golden }} as date), survived_fields.{{ golden }})
            {%- elif golden == 'consent_marketing' %}
                coalesce(try_cast(corrected_fields.{{ golden }} as boolean), survived_fields.{{ golden }})
            {%- else %}
                coalesce(corrected_fields.{{ golden }}, survived_fields.{{ golden }})
            {%- endif %} as {{ golden }},
        {%- endfor %}
        -- Which marketing consent is current and where it came from (R28): the source of the
        -- record that supplied it, or 'steward' for a correction, and when that source last
        -- changed the record (a withdrawal applies from then).
        case
            when corrected_fields.consent_marketing is not null then 'steward'
            else consent_record.source_name
        end as consent_marketing_source,
        case
            when corrected_fields.consent_marketing is null then consent_record.updated_at
        end as consent_marketing_updated_at,
        activity.last_interaction_at,
        activity.first_seen_date,
        activity.last_seen_date,
        activity.source_record_count,
        activity.sources_present,
        len(activity.sources_present)::bigint as source_count,
        case
            when activity.first_seen_date > as_of.as_of_date - {{ var('custodian_lifecycle_new_days') }}
                then 'new'
            when
                activity.last_activity_at is null
                or activity.last_activity_at::date > as_of.as_of_date - {{ var('custodian_lifecycle_active_days') }}
                then 'active'
            when activity.last_activity_at::date > as_of.as_of_date - {{ var('custodian_lifecycle_dormant_days') }}
                then 'dormant'
            else 'churned'
        end as lifecycle_stage,
        (
            (survived_fields.full_name is not null)::int
            + (survived_fields.date_of_birth is not null)::int
            + (coalesce(survived_fields.mobile_phone_e164, survived_fields.landline_phone_e164) is not null)::int
            + (survived_fields.email is not null)::int
            + (survived_fields.address_line is not null)::int
            + (survived_fields.national_id is not null)::int
        ) / 6.0 as completeness_score
    from survived_fields
    inner join activity on survived_fields.golden_customer_id = activity.golden_customer_id
    cross join as_of
    left join corrected_fields
        on survived_fields.golden_customer_id = corrected_fields.golden_customer_id
    left join records as consent_record
        on survived_fields.consent_marketing__record_key = consent_record.record_key
)

select * from final
