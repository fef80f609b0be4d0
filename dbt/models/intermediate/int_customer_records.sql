{#- All sources unioned, latest version of each source record, with the standardised values
    matching and survivorship compare. Sources come from governance.yaml (var custodian_sources). -#}
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
-- within a file the last row wins (exports append corrections).
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

named as (
    select
        *,
        -- Split names are joined in the order their script writes them: 张 + 三 -> 张三,
        -- John + Smith -> John Smith.
        custodian_clean_name(coalesce(
            full_name,
            case
                when regexp_matches(coalesce(family_name, '') || coalesce(given_name, ''), '\p{Han}')
                    then coalesce(family_name, '') || coalesce(given_name, '')
                else concat_ws(' ', given_name, family_name)
            end
        )) as full_name_clean,
        custodian_country_code(country_code) as country_code_clean
    from latest_version
),

standardised as (
    select
        source_name || ':' || source_record_id as record_key,
        source_name,
        source_record_id,
        trust_rank,
        full_name_clean as full_name,
        custodian_clean_name(family_name) as family_name,
        custodian_clean_name(given_name) as given_name,
        case
            when regexp_matches(full_name_clean, '\p{Han}') then full_name_clean
            else custodian_clean_name(name_original_script)
        end as name_original_script,
        custodian_pinyin(full_name_clean) as name_pinyin,
        custodian_name_tokens(coalesce(full_name, concat_ws(', ', family_name, given_name)))
            as name_tokens,
        case
            when lower(gender) in ('m', 'male', '男', '1') then 'M'
            when lower(gender) in ('f', 'female', '女', '2') then 'F'
        end as gender,
        coalesce(
            try_strptime(date_of_birth, '%Y-%m-%d'),
            try_strptime(date_of_birth, '%Y/%m/%d'),
            try_strptime(date_of_birth, '%Y%m%d')
        )::date as date_of_birth,
        nullif(upper(regexp_replace(national_id, '\s', '', 'g')), '') as national_id,
        -- As the source wrote them, so validity can be measured over numbers that were given.
        mobile_phone,
        landline_phone,
        -- A number without country code is read in the record's own country when it has one.
        custodian_phone_e164(mobile_phone, coalesce(country_code_clean, default_region))
            as mobile_phone_e164,
        custodian_phone_e164(landline_phone, coalesce(country_code_clean, default_region))
            as landline_phone_e164,
        lower(trim(email)) as email_normalised,
        regexp_full_match(lower(trim(email)), '[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}')
            as email_is_valid,
        address_line,
        district,
        city,
        -- 西安 and 西安市 are one city: the administrative suffix is dropped for comparison.
        nullif(upper(regexp_replace(trim(city), '\s*(市|City)$', '')), '') as city_key,
        province,
        postal_code,
        country_code_clean as country_code,
        billing_address_line,
        company_name,
        customer_tags,
        membership_level,
        case
            when lower(consent_marketing) in ('y', 'yes', 'true', '1', '是') then true
            when lower(consent_marketing) in ('n', 'no', 'false', '0', '否') then false
        end as consent_marketing,
        coalesce(
            try_cast(last_interaction_at as timestamp),
            try_strptime(last_interaction_at, '%Y/%m/%d %H:%M')
        ) as last_interaction_at,
        coalesce(
            try_cast(replace(replace(updated_at, 'T', ' '), 'Z', '') as timestamp),
            try_strptime(updated_at, '%Y/%m/%d %H:%M')
        ) as updated_at,
        first_seen_date,
        last_seen_date,
        delivery_count,
        partition_date as latest_partition_date,
        source_file_path,
        source_row_number
    from named
),

final as (
    select
        *,
        -- Fewer than two name parts (王先生, "Alan") is partial evidence: no full-name key.
        case when len(name_tokens) >= 2 then name_tokens end as full_name_tokens,
        case
            when len(name_tokens) >= 2 then array_to_string(list_sort(name_tokens), ' ')
        end as name_sorted_key,
        case when len(name_tokens) >= 2 then array_to_string(name_tokens, '') end
            as name_joined_key,
        mobile_phone_e164 is not null as mobile_phone_is_valid,
        landline_phone_e164 is not null as landline_phone_is_valid
    from standardised
)

select * from final
