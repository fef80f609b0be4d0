{#- All sources unioned, one row per source record (its latest delivery), with the keys matching
    compares and per-record quality measures. Sources come from governance.yaml
    (var custodian_sources). -#}
with

{% for source_name in var('custodian_sources') %}
    {{ source_name }}_records as (
        select * from {{ ref('stg_' ~ source_name ~ '__customers') }}
    ),
{% endfor %}

unioned as (
    {%- for source_name in var('custodian_sources') %}
        select * from {{ source_name }}_records
        {%- if not loop.last %}
            union all by name
        {%- endif %}
    {%- endfor %}
),

-- Later days re-send changed and unchanged records: the newest delivery of a key wins, and
-- within a file the last row wins (exports append corrections). A row without a key cannot be
-- followed over time and is left out here; the raw gate counts such rows.
latest_version as (
    select
        *,
        min(partition_date) over (partition by source_name, source_record_id) as first_seen_date,
        max(partition_date) over (partition by source_name, source_record_id) as last_seen_date,
        count(*) over (partition by source_name, source_record_id) as delivery_count
    from unioned
    where source_record_id is not null
    qualify row_number() over (
        partition by source_name, source_record_id
        order by partition_date desc, source_row_number desc
    ) = 1
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
        partition_date as latest_partition_date
    from cross_checked
)

select
    *,
    len(validity_failures) as validity_failure_count
from final
