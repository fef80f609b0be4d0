{#- Models land in the schema their folder names (staging, intermediate, main), not in
    "<target>_<folder>": there is one warehouse per environment, not one per developer. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
