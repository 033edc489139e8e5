{#-
    A record's outcome (audit__record_outcomes) as three columns, `<prefix>outcome`,
    `<prefix>reason_code` and `<prefix>reason_detail`, decided by one ladder of `rules`:
    [condition, outcome, reason_code, reason_detail], SQL expressions, none for null; a
    condition of none is the ladder's `else`. The first rule whose condition holds decides
    all three columns, so each condition is written once; when none holds, all are null.
-#}
{% macro ctsync_outcome_columns(rules, prefix='') -%}
    {%- for column in ['outcome', 'reason_code', 'reason_detail'] %}
        {%- set position = loop.index %}
        case
        {%- for rule in rules %}
            {%- set value = 'null' if rule[position] is none else rule[position] %}
            {%- if rule[0] is none %}
            else {{ value }}
            {%- else %}
            when {{ rule[0] }}
                then {{ value }}
            {%- endif %}
        {%- endfor %}
        end as {{ prefix }}{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
