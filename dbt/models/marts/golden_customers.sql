{#- One golden customer per resolved cluster; each field survives by the rule governance.yaml
    sets for it (macros/survive.sql). -#}
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

resolved_records as (
    select
        xref.golden_customer_id,
        records.*
    from records
    inner join xref on records.record_key = xref.record_key
),

survived as (
    select
        golden_customer_id,
        {{ survive('full_name', 'full_name') }} as full_name,
        {{ survive('name_original_script', 'name_original_script') }} as name_original_script,
        {{ survive('name_pinyin', 'full_name') }} as name_pinyin,
        {{ survive('gender', 'gender') }} as gender,
        {{ survive('date_of_birth', 'date_of_birth') }} as date_of_birth,
        {{ survive('national_id', 'national_id') }} as national_id,
        {{ survive('mobile_phone_e164', 'mobile_phone') }} as mobile_phone_e164,
        {{ survive('landline_phone_e164', 'landline_phone') }} as landline_phone_e164,
        {{ survive('email_normalised', 'email', 'email_is_valid') }} as email,
        {{ survive('address_line', 'address_line') }} as address_line,
        {{ survive('district', 'district') }} as district,
        {{ survive('city', 'city') }} as city,
        {{ survive('province', 'province') }} as province,
        {{ survive('admin_division_code', 'address_line') }} as admin_division_code,
        {{ survive('postal_code', 'postal_code') }} as postal_code,
        {{ survive('country_code', 'country_code') }} as country_code,
        {{ survive('billing_address_line', 'billing_address_line') }} as billing_address_line,
        {{ survive('company_name', 'company_name') }} as company_name,
        {{ survive('customer_tags', 'customer_tags') }} as customer_tags,
        {{ survive('membership_level', 'membership_level') }} as membership_level,
        {{ survive('consent_marketing', 'consent_marketing') }} as consent_marketing,
        max(last_interaction_at) as last_interaction_at,
        min(first_seen_date) as first_seen_date_any,
        max(last_seen_date) as last_seen_date_any,
        count(*) as source_record_count,
        list_sort(list_distinct(list(source_name))) as sources_present
    from resolved_records
    group by golden_customer_id
),

final as (
    select
        * exclude (first_seen_date_any, last_seen_date_any, source_record_count, sources_present),
        first_seen_date_any as first_seen_date,
        last_seen_date_any as last_seen_date,
        source_record_count,
        sources_present,
        len(sources_present)::bigint as source_count
    from survived
)

select * from final
