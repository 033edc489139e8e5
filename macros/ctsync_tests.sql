{#- Generic data tests the project needs (no dbt hub packages offline). -#}

{% test unique_combination_of_columns(model, columns) %}
    select {{ columns | join(", ") }}, count(*) as row_count
    from {{ model }}
    group by {{ columns | join(", ") }}
    having count(*) > 1
{% endtest %}


{#- A key: `column_name` (or `columns`) unique and not null, in one query (one dbt node where dbt's
    `unique` and `not_null` are two, each with its own cost per node in every build). One row
    per duplicated or null value, with how many rows hold it. -#}
{% test primary_key(model, column_name=none, columns=none) %}
    {#- on a column, or on the model with `columns`: a key of several columns, none null -#}
    {%- if columns -%}
    select {{ columns | join(", ") }}, count(*) as row_count
    from {{ model }}
    group by {{ columns | join(", ") }}
    having count(*) > 1 or {{ columns | join(" is null or ") }} is null
    {%- else -%}
    select {{ column_name }} as key_value, count(*) as row_count
    from {{ model }}
    group by {{ column_name }}
    having count(*) > 1 or {{ column_name }} is null
    {%- endif %}
{% endtest %}


{#- Rows where the SQL boolean `expression` is not true; on a column, the expression
    continues the column name (`expression: ">= 0"`). -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce({{ column_name ~ " " if column_name else "" }}{{ expression }}, false)
{% endtest %}


{#- Every value of `column_name` parses as JSON; with `allow_null=false`, none is null
    either (one query where `not_null` would be a second test). -#}
{% test is_json(model, column_name, allow_null=true) %}
    select {{ column_name }}
    from {{ model }}
    where {% if allow_null %}{{ column_name }} is not null and {% endif -%}
        not coalesce({{ ctsync_json_valid(column_name) }}, false)
{% endtest %}


{#- The contract of a `_changes` view the sync reads (docs/CONTRACTS.md): record_key unique
    and not null, operation one of `operations`, idempotency_key unique and not null. One
    row per violation, saying which. One test evaluates the view (a diff against the
    ledger) once, where a test per column evaluated it five times. -#}
{% test change_contract(model, operations) %}
    with changes as (

        select record_key, operation, idempotency_key
        from {{ model }}

    ),

    problems as (

        select record_key, 'record_key is null' as problem
        from changes
        where record_key is null

        union all

        select record_key, 'record_key is not unique' as problem
        from changes
        where record_key is not null
        group by record_key
        having count(*) > 1

        union all

        select record_key, 'operation is not one of {{ operations | join(", ") }}' as problem
        from changes
        where operation is null
            or operation not in ({% for operation in operations %}'{{ operation }}'{{ ", " if not loop.last }}{% endfor %})

        union all

        select record_key, 'idempotency_key is null' as problem
        from changes
        where idempotency_key is null

        union all

        select min(record_key) as record_key, 'idempotency_key is not unique' as problem
        from changes
        where idempotency_key is not null
        group by idempotency_key
        having count(*) > 1

    )

    select * from problems
{% endtest %}
