{#- One row per source record its source still holds, in its current standardised version, with
    the keys matching compares and per-record quality measures. Record history
    (dagster_project/lib/history/records.py) keeps every version; this model reads the ones in
    force, so re-sent unchanged records are not standardised again. -#}
with

versions as (
    select * from {{ source('history', 'customer_record_versions') }}
),

presence as (
    select * from {{ source('history', 'record_presence') }}
),

-- A record a full extract no longer holds, or a delta marked deleted, has a current tombstone
-- version and is left out; so are the records of a source removed from the config (history
-- keeps them until retention says otherwise).
current_versions as (
    select
        * exclude (
            valid_from, valid_to, is_current, is_deleted, raw_fingerprint, content_hash,
            version_run_id, trust_rank
        ),
        valid_from as version_valid_from
    from versions
    where
        is_current
        and not is_deleted
        and source_name in (
            {%- for source_name in var('custodian_sources') %}
                '{{ source_name }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
),

-- The trust rank comes from today's config, not from the version: a re-ranked source takes
-- effect without re-delivering its records.
latest_version as (
    select
        current_versions.* exclude (record_key),  -- noqa: RF02
        presence.first_seen_date,
        presence.last_seen_date,
        presence.delivery_count,
        case current_versions.source_name
            {%- for source_name, source in var('custodian_sources').items() %}
                when '{{ source_name }}' then {{ source.get('trust_rank', 99) }}
            {%- endfor %}
            else 99
        end as trust_rank
    from current_versions
    inner join presence on current_versions.record_key = presence.record_key
),

cross_checked as (
    select
        *,
        -- The ID card carries a birth date and the issuing province: a record whose own date of
        -- birth or address province disagrees has a wrong value somewhere.
        case
            when national_id_is_valid and date_of_birth is not null
                then national_id_birth_date = date_of_birth
        end as national_id_matches_date_of_birth,
        case
            when national_id_is_valid and province_code is not null
                then national_id_province_code = province_code
        end as national_id_matches_province
    from latest_version
),

final as (
    select
        source_name || ':' || source_record_id as record_key,
        * exclude (partition_date, loaded_at, name_key),
        -- Fewer than two name parts (王先生, "Alan") is partial evidence: no full-name keys.
        case when not name_is_partial then name_tokens end as full_name_tokens,
        name_key as name_sorted_key,
        case when not name_is_partial then array_to_string(name_tokens, '') end
            as name_joined_key,
        -- 西安 and 西安市 are one city: the administrative suffix is dropped for comparison.
        nullif(upper(regexp_replace(trim(city), '\s*(市|City)$', '')), '') as city_key,
        -- Share of the fields that identify and reach a customer that are present and valid.
        (
            coalesce(name_is_valid and not name_is_partial, false)::int
            + coalesce(date_of_birth_is_valid, false)::int
            + coalesce(mobile_phone_is_valid or landline_phone_is_valid, false)::int
            + coalesce(email_is_valid, false)::int
            + (address_line is not null and city is not null)::int
            + coalesce(national_id_is_valid, false)::int
        ) / 6.0 as completeness_score,
        list_filter(
            [
                case when not name_is_valid then 'name' end,
                case when not gender_is_valid then 'gender' end,
                case when not date_of_birth_is_valid then 'date_of_birth' end,
                case when not national_id_is_valid then 'national_id' end,
                case when not national_id_matches_date_of_birth then 'national_id_date_of_birth' end,
                case when not national_id_matches_province then 'national_id_province' end,
                case when not mobile_phone_is_valid then 'mobile_phone' end,
                case when not landline_phone_is_valid then 'landline_phone' end,
                case when not email_is_valid then 'email' end,
                case when not postal_code_is_valid then 'postal_code' end,
                case when not country_code_is_valid then 'country_code' end
            ],
            failed_field -> failed_field is not null
        ) as validity_failures,
        last_seen_date as latest_partition_date
    from cross_checked
)

select
    *,
    len(validity_failures) as validity_failure_count
from final
