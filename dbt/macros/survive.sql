{#- Survivorship: the aggregate that picks one golden value per customer for `column`, by the
    rule governance.yaml gives the canonical `field` (var custodian_survivorship). Every rule ends
    in record_key, so ties resolve the same way on every run. -#}
{% macro survive(column, field, validity_column=none) %}
    {%- set rules = var('custodian_survivorship') -%}
    {%- set rule = rules.get('fields', {}).get(field, rules.get('default_rule', 'trust_rank')) -%}
    {%- if rule == 'trust_rank' -%}
        {%- set order = 'trust_rank, updated_at desc nulls last, record_key' -%}
    {%- elif rule == 'most_recent' -%}
        {%- set order = 'updated_at desc nulls last, trust_rank, record_key' -%}
    {%- elif rule == 'most_frequent' -%}
        {#- histogram() keys come sorted, so among equally frequent values the smallest wins. -#}
        {%- set counts = 'histogram(' ~ column ~ ')' -%}
        {{ return('map_keys(' ~ counts ~ ')[list_position(map_values(' ~ counts ~ '), list_max(map_values(' ~ counts ~ ')))]') }}
    {%- elif rule == 'valid_first' -%}
        {%- set validity = validity_column if validity_column else 'true' -%}
        {%- set order = validity ~ ' desc, trust_rank, updated_at desc nulls last, record_key' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown survivorship rule '" ~ rule ~ "' for " ~ field) }}
    {%- endif -%}
    first({{ column }} order by {{ order }}) filter (where {{ column }} is not null)
{%- endmacro %}
