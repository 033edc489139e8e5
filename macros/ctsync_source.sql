{#-
    Read a raw commercetools table tolerantly.

    dlt creates a column only once some document carries the field, and a child table only
    once some list is non-empty (no returns yet: no `orders__return_info__items`). A fresh
    project must still build, so staging selects raw columns through this macro: a column the
    table does not have yet is a typed NULL, a table that does not exist yet is an empty
    relation with the same columns. `columns` is a list of [raw column name, SQL type].
-#}
{% macro ctsync_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set existing = ctsync_existing_columns(relation) -%}
    select
    {%- for name, data_type in columns %}
        {% if existing is not none and name | lower in existing -%}
            {{ adapter.quote(name) }}
        {%- else -%}
            cast(null as {{ data_type }})
        {%- endif %} as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endfor %}
    {% if existing is none -%}
    from (select 1 as placeholder) as missing_table
    where 1 = 0
    {%- else -%}
    from {{ relation }}
    {%- endif %}
{%- endmacro %}


{#- Lower-cased column names of `relation`, or none when it does not exist. At parse time
    (no database) it returns an empty list, which renders the plain source. -#}
{% macro ctsync_existing_columns(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if found is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(found) -%}
        {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- The columns of `relation` but `except`, in the relation's order, for a model that shows
    another's columns: the columns stay defined once, in the model that computes them. -#}
{% macro ctsync_star_except(relation, except) -%}
    {%- set existing = ctsync_existing_columns(relation) -%}
    {%- if existing is none -%}
        {{ exceptions.raise_compiler_error(relation ~ " does not exist yet: build it first") }}
    {%- elif not existing -%}
        *
    {%- else -%}
        {%- set excluded = except | map('lower') | list -%}
        {%- for name in existing if name not in excluded %}
    {{ adapter.quote(name) }}{{ "," if not loop.last }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#-
    Rows of a list that dlt unnested into a child table (`customers__addresses`, ...), read
    tolerantly like ctsync_source, each with `root_id`, the id of the document it belongs to
    (dlt joins a child row to its root document by `_dlt_root_id` = the root's `_dlt_id`),
    and `_dlt_list_idx`, its position in the list.
-#}
{% macro ctsync_source_list(source_name, root_table, list_table, columns) -%}
    {%- set dlt_columns = [['_dlt_root_id', 'varchar'], ['_dlt_list_idx', 'bigint']] -%}
    select
        list_rows.*,
        roots.id as root_id
    from (
        {{ ctsync_source(source_name, list_table, columns + dlt_columns) }}
    ) as list_rows
    inner join (
        {{ ctsync_source(source_name, root_table, [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}
    ) as roots
        on list_rows._dlt_root_id = roots._dlt_id
{%- endmacro %}
