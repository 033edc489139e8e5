{#-
    Models that rebuild only what changed (README "Only what changed").

    * `ctsync_replace` (incremental strategy): the model's incremental query returns the rows
      of the changed customers (or orders) only; the strategy deletes every row of those
      keys (and of any other key the query rebuilt) and inserts the new ones, so rows of a
      key that no longer qualifies go too.
      Model config `ctsync_changes` names the table listing the changed keys (default
      `int_changes__customers`), `ctsync_replace_by` its key column (default `customer_id`).
    * `ctsync_changed_rows` (incremental strategy): for small models read across keys (the
      identities, the store markets), the query returns every row with `changed_at` =
      `ctsync_clock()`; only rows that differ from the stored ones (new, changed) are
      written, rows no longer returned are deleted, and an unchanged row keeps its older
      `changed_at`: downstream, `changed_at` says whose identity or market changed when.
-#}


{#- The real clock as a UTC timestamp (`ctsync_now` may be pinned by var as_of). -#}
{% macro ctsync_clock() -%}
    {{ return(adapter.dispatch('ctsync_clock', 'ctsync')()) }}
{%- endmacro %}

{% macro default__ctsync_clock() -%}
    cast(current_timestamp at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__ctsync_clock() -%}
    timezone('UTC', current_timestamp)
{%- endmacro %}


{#- In an incremental run, a filter keeping the rows of changed keys: `column` in the
    `changes` table (its key column: `key`, default the same name). Empty otherwise.
    With `prefix`, the listed keys name several kinds of records (`order:<id>`,
    `customer:<id>`): `column` is the bare id, compared with the keys that start with
    `prefix`, without it (a filter on the column itself, which a scan can apply).
    The keys are written into the SQL as a list of literals when there are at most
    var `ctsync_inline_changed_keys` of them (the usual incremental run): a planner pushes a
    literal list down to the scans below views and joins (DuckDB does; it keeps an
    `in (subquery)` above them, so a view over every order was computed in full to keep 300).
    More keys (a large backfill), or `inline=false`: the subquery, a hash semi-join, which is
    cheaper where nothing needs pushing down (a table read directly): DuckDB may compare a
    long literal list key by key with every row. With `everything` (a model that must rebuild
    every row this time), `true`. -#}
{% macro ctsync_only_changed(column, changes='int_changes__customers', key=none, prefix=none, inline=true, everything=false) -%}
    {%- if everything -%}
    true
    {%- elif is_incremental() -%}
    {%- set key_column = key or column.split('.')[-1] -%}
    {%- set keys = ctsync_changed_keys(ref(changes), key_column) if inline else none -%}
    {%- if keys is none and prefix -%}
    ({{ column }}) in (
        select substring({{ key_column }}, {{ prefix | length + 1 }}) from {{ ref(changes) }}
        where {{ key_column }} like '{{ prefix }}%'
    )
    {%- elif keys is none -%}
    ({{ column }}) in (select {{ key_column }} from {{ ref(changes) }})
    {%- else -%}
    {%- set values = [] -%}
    {%- for value in keys -%}
        {%- if not prefix -%}
            {%- do values.append(value) -%}
        {%- elif value.startswith(prefix) -%}
            {%- do values.append(value[prefix | length:]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if values | length == 0 -%}
    1 = 0
    {%- else -%}
    ({{ column }}) in ({% for value in values %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
    {%- endif -%}
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}


{#- The keys listed in the relation `changes` (column `key_column`), or none when there are
    more than var `ctsync_inline_changed_keys` (or at parse time, or in a unit test: its
    inputs are not tables to query). Read once per node: a model filters several CTEs by the
    same list, and the change lists are built before any model that reads them. -#}
{% macro ctsync_changed_keys(changes, key_column) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set read = context.get('ctsync_changed_keys_read') -%}
    {%- if read is none -%}
        {%- set read = {} -%}
        {%- do context.update({'ctsync_changed_keys_read': read}) -%}
    {%- endif -%}
    {%- set read_key = changes ~ ' ' ~ key_column -%}
    {%- if read_key not in read -%}
        {%- set limit = var('ctsync_inline_changed_keys') | int -%}
        {%- set found = run_query(
            'select distinct ' ~ key_column ~ ' from ' ~ changes
            ~ ' where ' ~ key_column ~ ' is not null limit ' ~ (limit + 1)
        ) -%}
        {%- if found.rows | length > limit -%}
            {%- do read.update({read_key: none}) -%}
        {%- else -%}
            {%- do read.update({read_key: found.columns[0].values() | map('string') | list}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(read[read_key]) }}
{%- endmacro %}


{% macro get_incremental_ctsync_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set by = config.get('ctsync_replace_by', 'customer_id') -%}
    {%- set changes = ref(config.get('ctsync_changes', 'int_changes__customers')) -%}
    delete from {{ target }}
    where {{ by }} in (select {{ by }} from {{ changes }})
        or {{ by }} in (select {{ by }} from {{ arg_dict['temp_relation'] }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- Post-hook of a `ctsync_replace` model whose keys can disappear without being listed
    (a person no longer there): in an incremental build, delete the rows whose `column` is
    not in `relation` any more. -#}
{% macro ctsync_keep_only(column, relation) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where not exists (
        select 1 from {{ relation }} as kept
        where kept.{{ column }} = {{ this }}.{{ column }}
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{% macro get_incremental_ctsync_changed_rows_sql(arg_dict) -%}
    {#- One join of the new rows with the stored ones finds the keys whose row is new, gone or
        different (an anti-join each way and an `except` of every column took twice as
        long: 0.24 s against 0.13 for 339 000 contacts); only those are deleted and written. -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set columns = get_quoted_csv(names) -%}
    {%- set changed = new_rows.identifier ~ '__changed' -%}
    create temporary table {{ changed }} as
    select coalesce(new_rows.{{ key }}, old_rows.{{ key }}) as {{ key }}
    from {{ new_rows }} as new_rows
    full outer join {{ target }} as old_rows
        on new_rows.{{ key }} = old_rows.{{ key }}
    where new_rows.{{ key }} is null
        or old_rows.{{ key }} is null
        {%- for name in names if name not in ('changed_at', key) %}
        or new_rows.{{ adapter.quote(name) }} is distinct from old_rows.{{ adapter.quote(name) }}
        {%- endfor %};

    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ changed }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ new_rows }} as new_rows
    where {{ key }} in (select {{ key }} from {{ changed }});

    drop table {{ changed }}
{%- endmacro %}


{#- Post-hook of the incremental dim_customers: the one clock-relative column, for every row
    (the rows an incremental build did not rebuild too), as a full build computes it. -#}
{% macro dim_customers_refresh_clock_columns() -%}
    {%- if is_incremental() -%}
    update {{ this }}
    set days_since_last_order = {{ dbt.datediff('last_order_at', ctsync_now(), 'day') }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- What a generic data test reads of `relation` (dbt's own macro, overridden): its `where`
    config, and, on a model that rebuilds only what changed (`ctsync_replace`), the rows of
    the keys this build changed (its `ctsync_changes` table). A row of an unchanged key was
    tested when it was built; a duplicate or a broken row can only be among the new ones.
    A first build (the changes are everyone) and `--full-refresh` test every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append(config.get('where')) -%}
    {%- endif -%}
    {%- set changed = ctsync_changed_rows_condition(relation) -%}
    {%- if changed -%}
        {#- the tested model is an incremental table: its rows by row id -#}
        {%- do conditions.append(changed) -%}
        {%- do return(ctsync_table_rows_where(relation, conditions | join(' and ')) ~ ' dbt_subquery') -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{% macro ctsync_changed_rows_condition(relation) -%}
    {%- if not execute or flags.FULL_REFRESH or not model.get('attached_node') -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- if tested is none or tested.config.get('incremental_strategy') != 'ctsync_replace'
        or relation.identifier != tested.alias -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set changes = graph.nodes.get('model.' ~ tested.package_name ~ '.' ~ tested.config.get('ctsync_changes', 'int_changes__customers')) -%}
    {%- set by = tested.config.get('ctsync_replace_by', 'customer_id') -%}
    {#- a semi-join: a list of literals is compared key by key with every row (slower here) -#}
    {%- do return(by ~ ' in (select ' ~ by ~ ' from ' ~ changes.relation_name ~ ')') -%}
{%- endmacro %}
