{#- Standardisation that SQL does well, as expression macros. Values a library must judge
    (names, phones, e-mails, IDs, addresses) go through the Python UDFs of the dbt-duckdb plugin
    (dagster_project/lib/transform/duckdb_plugin.py) instead. -#}

{#- The date formats the sources write, tried in order. Impossible dates (2021/02/30) match no
    format and stay null: strptime never rolls them over into the next month. -#}
{% macro parse_date_text(column) -%}
    coalesce(
        try_strptime({{ column }}, '%Y-%m-%d'),
        try_strptime({{ column }}, '%Y/%m/%d'),
        try_strptime({{ column }}, '%Y%m%d'),
        try_strptime({{ column }}, '%d.%m.%Y'),
        try_strptime({{ column }}, '%Y.%m.%d'),
        try_strptime({{ column }}, '%Y年%m月%d日'),
        -- Excel serial day numbers (45231 = 2023-11-01), as spreadsheets export dates; 1900's
        -- phantom 29 February is why the epoch is 1899-12-30 and not 1899-12-31.
        case
            when regexp_full_match({{ column }}, '[1-9][0-9]{4}(\.0+)?')
                then date '1899-12-30' + cast(cast({{ column }} as double) as integer)
        end
    )::date
{%- endmacro %}

{#- Why a date of birth is not usable, or null when it is (or was not given). 1900-01-01 and
    similar are what forms put when the field was required and unknown. -#}
{% macro date_of_birth_invalid_reason(text_column, date_column, as_of_column) -%}
    case
        when {{ text_column }} is null then null
        when {{ date_column }} is null then 'unparseable'
        when {{ date_column }} in (date '1900-01-01', date '1970-01-01', date '1111-11-11')
            then 'placeholder'
        when {{ date_column }} < date '1900-01-01' then 'before_1900'
        when {{ date_column }} > {{ as_of_column }} then 'in_future'
    end
{%- endmacro %}

{#- Source timestamps: an explicit offset or Z is converted to the platform's time zone; a value
    without one is already local time there (CRM, ERP and call-centre exports are). -#}
{% macro parse_timestamp_text(column) -%}
    case
        when regexp_matches({{ column }}, '(Z|[+-][0-9]{2}:?[0-9]{2})$')
            then timezone(
                '{{ var("custodian_timezone", "Asia/Shanghai") }}',
                try_cast({{ column }} as timestamptz)
            )
        else coalesce(
            try_strptime({{ column }}, '%Y-%m-%d %H:%M:%S'),
            try_strptime({{ column }}, '%Y-%m-%dT%H:%M:%S'),
            try_strptime({{ column }}, '%Y-%m-%d %H:%M:%S.%f'),
            try_strptime({{ column }}, '%Y/%m/%d %H:%M:%S'),
            try_strptime({{ column }}, '%Y/%m/%d %H:%M'),
            try_strptime({{ column }}, '%Y-%m-%d %H:%M'),
            try_strptime({{ column }}, '%Y%m%d%H%M%S'),
            {{ parse_date_text(column) }}::timestamp
        )
    end
{%- endmacro %}

{#- M, F or X (the customer chose neither); anything else is invalid, not guessed. -#}
{% macro standardise_gender(column) -%}
    case
        when lower({{ column }}) in ('m', 'male', 'man', '男', '1') then 'M'
        when lower({{ column }}) in ('f', 'female', 'woman', '女', '2') then 'F'
        when lower({{ column }}) in ('x', 'other', 'diverse', 'non-binary', '其他') then 'X'
    end
{%- endmacro %}

{% macro standardise_yes_no(column) -%}
    case
        when lower({{ column }}) in ('y', 'yes', 'true', 't', '1', '是', '同意') then true
        when lower({{ column }}) in ('n', 'no', 'false', 'f', '0', '否', '不同意') then false
    end
{%- endmacro %}

{#- <field>_is_valid: null when the field was not given, else whether its standard form exists. -#}
{% macro is_valid_when_given(given_column, standard_expression) -%}
    case when {{ given_column }} is not null then {{ standard_expression }} is not null end
{%- endmacro %}

{#- A phone value's digits as written: full-width digits made ASCII, everything else dropped.
    Kept beside the standard number for the values the validator rejects (a prefix the
    numbering plan does not know, a digit missing): two records with the same rejected digits
    are still evidence of one person. -#}
{% macro phone_digits(column) -%}
    nullif(regexp_replace(translate({{ column }}, '０１２３４５６７８９', '0123456789'), '[^0-9]', '', 'g'), '')
{%- endmacro %}
