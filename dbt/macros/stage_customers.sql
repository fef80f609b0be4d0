{#- One source's raw rows as canonical customer records: renamed onto the canonical fields as
    governance.yaml maps them (var custodian_sources), then standardised. Each configured
    source's model is one generated line calling this macro (lib/transform/source_models.py).

    Every standardised field keeps the same trio where it can be judged: the standard value, a
    <field>_is_valid flag (null when not given) and a <field>_invalid_reason. -#}
{% macro stage_customers(source_name) %}
    {%- set source_config = var('custodian_sources').get(source_name, {}) -%}
    {%- set mapping = source_config.get('mapping', {}) -%}
    {%- set raw_relation = source('raw', source_name ~ '__customers') -%}
    {#- No delivery has created the raw table yet (a source before its first file, or one whose
        files are optional): no rows, the same columns, so the union downstream still builds. -#}
    {%- set raw_exists = custodian_relation_exists(raw_relation) -%}
with

source_rows as (
    {%- if raw_exists %}
        -- Re-sent records the history step found unchanged are not standardised again.
        select * from {{ raw_relation }} as delivered
        where not exists (
            select 1 from history.unchanged_deliveries as unchanged
            where unchanged.source_name = '{{ source_name }}'
                and unchanged.partition_date = delivered._partition_date
                and unchanged.row_number = delivered._row_number
        )
    {%- else %}
        select 1 as no_delivery_yet where false
    {%- endif %}
),

renamed as (
    select
        '{{ source_name }}' as source_name,
    {%- for field in var('custodian_canonical_fields') %}
        {%- set spec = mapping.get(field) %}
        {%- if spec is none or not raw_exists %}
        null::varchar as {{ field }},
        {%- elif 'column' in spec %}
        nullif(trim({{ adapter.quote(spec['column']) }}), '') as {{ field }},
        {%- else %}
        nullif(trim(cast(({{ spec['expr'] }}) as varchar)), '') as {{ field }},
        {%- endif %}
    {%- endfor %}
        '{{ source_config.get("default_region", "CN") }}' as default_region,
        {{ source_config.get('trust_rank', 99) }} as trust_rank,
        {{ '_partition_date' if raw_exists else 'null::date' }} as partition_date,
        {{ '_row_number' if raw_exists else 'null::bigint' }} as source_row_number,
        {{ '_file_path' if raw_exists else 'null::varchar' }} as source_file_path,
        {{ '_loaded_at' if raw_exists else 'null::timestamp' }} as loaded_at
    from source_rows
),

-- The record's country decides how a phone number without a country code is read, so it is
-- resolved before the phones.
with_country as (
    select
        *,
        custodian_country_code(country_code) as country_code_iso
    from renamed
),

standardised as (
    select
        *,
        custodian_standardise_name(coalesce(full_name, name_original_script), family_name, given_name)
            as name_result,
        custodian_standardise_phone(mobile_phone, coalesce(country_code_iso, default_region))
            as mobile_in_record_country,
        custodian_standardise_phone(landline_phone, coalesce(country_code_iso, default_region))
            as landline_in_record_country,
        custodian_standardise_email(email) as email_result,
        custodian_standardise_national_id(national_id) as national_id_result,
        custodian_standardise_address(
            address_line, district, city, province, postal_code, coalesce(country_code_iso, country_code)
        ) as address_result,
        {{ parse_date_text('date_of_birth') }} as date_of_birth_date
    from with_country
),

-- A number without a country code is read in the record's country first. Where that fails and
-- the record is abroad, it is read in the source's home region: a mainland CRM's customer who
-- moved to London keeps writing their mobile as 138 0013 8000.
phones_chosen as (
    select
        *,
        {{ phone_read_at_home_if_invalid('mobile_phone', 'mobile_in_record_country') }}
            as mobile_result,
        {{ phone_read_at_home_if_invalid('landline_phone', 'landline_in_record_country') }}
            as landline_result
    from standardised
),

final as (
    select
        source_name,
        source_record_id,
        trust_rank,

        name_result.full_name,
        name_result.family_name,
        name_result.given_name,
        name_result.name_original_script,
        name_result.name_pinyin,
        name_result.name_pinyin_joined,
        name_result.name_script,
        name_result.name_tokens,
        name_result.name_key,
        name_result.name_is_partial,
        name_result.name_is_valid,
        name_result.name_invalid_reason,

        {{ standardise_gender('gender') }} as gender,
        {{ is_valid_when_given('gender', standardise_gender('gender')) }} as gender_is_valid,

        case
            when {{ date_of_birth_invalid_reason('date_of_birth', 'date_of_birth_date', 'partition_date') }} is null
                then date_of_birth_date
        end as date_of_birth,
        case
            when date_of_birth is not null
                then {{ date_of_birth_invalid_reason('date_of_birth', 'date_of_birth_date', 'partition_date') }} is null
        end as date_of_birth_is_valid,
        {{ date_of_birth_invalid_reason('date_of_birth', 'date_of_birth_date', 'partition_date') }}
            as date_of_birth_invalid_reason,

        national_id_result.national_id,
        national_id_result.is_valid as national_id_is_valid,
        national_id_result.invalid_reason as national_id_invalid_reason,
        national_id_result.birth_date as national_id_birth_date,
        national_id_result.region_code as national_id_region_code,
        national_id_result.province_code as national_id_province_code,
        national_id_result.gender as national_id_gender,

        mobile_result.e164 as mobile_phone_e164,
        mobile_result.phone_type as mobile_phone_type,
        mobile_result.is_valid as mobile_phone_is_valid,
        mobile_result.invalid_reason as mobile_phone_invalid_reason,
        {{ phone_digits('mobile_phone') }} as mobile_phone_digits,
        landline_result.e164 as landline_phone_e164,
        landline_result.phone_type as landline_phone_type,
        landline_result.is_valid as landline_phone_is_valid,
        landline_result.invalid_reason as landline_phone_invalid_reason,
        {{ phone_digits('landline_phone') }} as landline_phone_digits,

        email_result.email_normalised,
        email_result.email_is_valid,
        email_result.email_invalid_reason,
        email_result.email_is_placeholder,

        address_result.address_line,
        address_result.street_line,
        address_result.district,
        address_result.city,
        address_result.province,
        address_result.province_code,
        address_result.admin_division_code,
        address_result.postal_code,
        address_result.postal_code_is_valid,
        address_result.postal_code_invalid_reason,
        address_result.country_code,
        {{ is_valid_when_given('country_code', 'address_result.country_code') }}
            as country_code_is_valid,
        nullif(trim(regexp_replace(billing_address_line, '\s+', ' ', 'g')), '')
            as billing_address_line,

        nullif(trim(regexp_replace(company_name, '\s+', ' ', 'g')), '') as company_name,
        customer_tags,
        membership_level,
        {{ standardise_yes_no('consent_marketing') }} as consent_marketing,
        {{ parse_timestamp_text('last_interaction_at') }} as last_interaction_at,
        {{ parse_timestamp_text('updated_at') }} as updated_at,

        partition_date,
        source_row_number,
        source_file_path,
        loaded_at
    from phones_chosen
)

select * from final
{% endmacro %}

{#- The phone read in the record's country, unless it is invalid there and the record is abroad
    and reading it in the source's default region makes it valid. -#}
{% macro phone_read_at_home_if_invalid(raw_column, in_record_country) -%}
    case
        when {{ in_record_country }}.is_valid is not false
            or coalesce(country_code_iso, default_region) = default_region
            then {{ in_record_country }}
        when custodian_standardise_phone({{ raw_column }}, default_region).is_valid
            then custodian_standardise_phone({{ raw_column }}, default_region)
        else {{ in_record_country }}
    end
{%- endmacro %}
