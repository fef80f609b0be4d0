{#- Renames one source's raw columns onto the canonical customer fields, as governance.yaml maps
    them (var custodian_sources). A source of ordinary shape needs only this one-line model. -#}
{% macro stage_customers(source_name) %}
    {%- set source_config = var('custodian_sources').get(source_name, {}) -%}
    {%- set mapping = source_config.get('mapping', {}) -%}
with

source_rows as (
    select * from {{ source('raw', source_name ~ '__customers') }}
),

renamed as (
    select
        '{{ source_name }}' as source_name,
    {%- for field in var('custodian_canonical_fields') %}
        {%- set spec = mapping.get(field) %}
        {%- if spec is none %}
        null::varchar as {{ field }},
        {%- elif 'column' in spec %}
        nullif(trim({{ adapter.quote(spec['column']) }}), '') as {{ field }},
        {%- else %}
        nullif(trim(cast(({{ spec['expr'] }}) as varchar)), '') as {{ field }},
        {%- endif %}
    {%- endfor %}
        '{{ source_config.get("default_region", "CN") }}' as default_region,
        {{ source_config.get('trust_rank', 99) }} as trust_rank,
        _partition_date as partition_date,
        _row_number as source_row_number,
        _file_path as source_file_path,
        _loaded_at as loaded_at
    from source_rows
)

select * from renamed
{% endmacro %}
