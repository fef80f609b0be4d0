{#- Whether a relation exists in the warehouse. Always true while dbt parses (nothing is queried
    then) and in unit tests, whose inputs are fixtures rather than tables. -#}
{% macro custodian_relation_exists(relation) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(load_relation(relation) is not none) }}
{%- endmacro %}
