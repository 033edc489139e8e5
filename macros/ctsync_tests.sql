{#- Generic data tests the project needs (no dbt hub packages offline). -#}

{% test unique_combination_of_columns(model, columns) %}
    select {{ columns | join(", ") }}, count(*) as row_count
    from {{ model }}
    group by {{ columns | join(", ") }}
    having count(*) > 1
{% endtest %}


{#- Rows where the SQL boolean `expression` is not true; on a column, the expression
    continues the column name (`expression: ">= 0"`). -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce({{ column_name ~ " " if column_name else "" }}{{ expression }}, false)
{% endtest %}


{#- Every value of `column_name` parses as JSON. -#}
{% test is_json(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is not null
        and not {{ ctsync_json_valid(column_name) }}
{% endtest %}
