{#- Models land in the schema their folder names (`staging`, `intermediate`, `marts`,
    `iterable`, `audit`), not `<target schema>_<name>`: the sync and analysts address
    `iterable.iterable__users_changes` by that exact name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
