{#-
    Adapter-specific SQL lives here, behind adapter.dispatch, so models stay portable.

    Every macro has a `default__` written in ANSI SQL (SQL:2016 JSON functions where JSON is
    involved) and a `duckdb__` implementation. A warehouse that needs something else adds a
    `<adapter>__<macro>` beside them; no model changes.

    Where dbt has a cross-database macro, models call it directly instead: `dbt.hash`
    (payload hashes; its md5 of the text is exactly what this project hashed before, so the
    hashes the ledger compares did not change), `dbt.listagg`, `dbt.datediff`,
    `dbt.dateadd`, `dbt.type_*` (not `dbt.type_float`: on DuckDB that is a 4-byte FLOAT). This file holds only what dbt has no macro for (JSON, localized text,
    epoch seconds, UTC conversion, `as_of`-pinned now, money).
-#}

{#- JSON object from an ordered list of [key, sql expression] pairs. Key order is kept,
    so the text is stable and a payload hash changes only when content changes. -#}
{% macro ctsync_json_object(pairs) -%}
    {{ return(adapter.dispatch('ctsync_json_object', 'ctsync')(pairs)) }}
{%- endmacro %}

{% macro default__ctsync_json_object(pairs) -%}
    json_object({%- for key, expression in pairs %}'{{ key }}' value {{ expression }}{{ ", " if not loop.last }}{%- endfor -%} null on null)
{%- endmacro %}

{% macro duckdb__ctsync_json_object(pairs) -%}
    json_object({%- for key, expression in pairs %}'{{ key }}', {{ expression }}{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}


{#- Aggregate JSON values into a JSON array in a fixed order; empty input gives []. -#}
{% macro ctsync_json_array_agg(expression, order_by) -%}
    {{ return(adapter.dispatch('ctsync_json_array_agg', 'ctsync')(expression, order_by)) }}
{%- endmacro %}

{% macro default__ctsync_json_array_agg(expression, order_by) -%}
    coalesce(json_arrayagg({{ expression }} order by {{ order_by }}), json_array())
{%- endmacro %}

{% macro duckdb__ctsync_json_array_agg(expression, order_by) -%}
    coalesce(to_json(list({{ expression }} order by {{ order_by }})), cast('[]' as json))
{%- endmacro %}


{#- Like ctsync_json_array_agg over the rows where `condition` holds. -#}
{% macro ctsync_json_array_agg_where(expression, order_by, condition) -%}
    {{ return(adapter.dispatch('ctsync_json_array_agg_where', 'ctsync')(expression, order_by, condition)) }}
{%- endmacro %}

{% macro default__ctsync_json_array_agg_where(expression, order_by, condition) -%}
    coalesce(json_arrayagg({{ expression }} order by {{ order_by }}) filter (where {{ condition }}), json_array())
{%- endmacro %}

{% macro duckdb__ctsync_json_array_agg_where(expression, order_by, condition) -%}
    coalesce(to_json(list({{ expression }} order by {{ order_by }}) filter (where {{ condition }})), cast('[]' as json))
{%- endmacro %}


{#- A flat JSON object whose null members are left out (Iterable overwrites what it is
    sent, so an absent array means "leave it alone"). Only for objects without nested
    objects whose nulls matter. -#}
{% macro ctsync_json_object_absent_on_null(pairs) -%}
    {{ return(adapter.dispatch('ctsync_json_object_absent_on_null', 'ctsync')(pairs)) }}
{%- endmacro %}

{% macro default__ctsync_json_object_absent_on_null(pairs) -%}
    json_object({%- for key, expression in pairs %}'{{ key }}' value {{ expression }}{{ ", " if not loop.last }}{%- endfor -%} absent on null)
{%- endmacro %}

{% macro duckdb__ctsync_json_object_absent_on_null(pairs) -%}
    json_merge_patch('{}', {{ duckdb__ctsync_json_object(pairs) }})
{%- endmacro %}


{#- JSON array literal from a list of SQL expressions. -#}
{% macro ctsync_json_array(expressions) -%}
    {{ return(adapter.dispatch('ctsync_json_array', 'ctsync')(expressions)) }}
{%- endmacro %}

{% macro default__ctsync_json_array(expressions) -%}
    json_array({{ expressions | join(", ") }})
{%- endmacro %}

{% macro duckdb__ctsync_json_array(expressions) -%}
    json_array({{ expressions | join(", ") }})
{%- endmacro %}


{#- Treat JSON text (varchar) as JSON, so it nests instead of being quoted as a string. -#}
{% macro ctsync_json(expression) -%}
    {{ return(adapter.dispatch('ctsync_json', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_json(expression) -%}
    json({{ expression }})
{%- endmacro %}

{% macro duckdb__ctsync_json(expression) -%}
    cast({{ expression }} as json)
{%- endmacro %}


{#- JSON value as text. `path` is a JSON path literal such as '$.centAmount'. -#}
{% macro ctsync_json_text(expression, path) -%}
    {{ return(adapter.dispatch('ctsync_json_text', 'ctsync')(expression, path)) }}
{%- endmacro %}

{% macro default__ctsync_json_text(expression, path) -%}
    json_value({{ expression }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__ctsync_json_text(expression, path) -%}
    json_extract_string({{ expression }}, '{{ path }}')
{%- endmacro %}


{#- A JSON sub-document (object or array) as JSON text. -#}
{% macro ctsync_json_query(expression, path) -%}
    {{ return(adapter.dispatch('ctsync_json_query', 'ctsync')(expression, path)) }}
{%- endmacro %}

{% macro default__ctsync_json_query(expression, path) -%}
    json_query({{ expression }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__ctsync_json_query(expression, path) -%}
    cast(json_extract({{ expression }}, '{{ path }}') as varchar)
{%- endmacro %}


{#- A localized string ({"de-DE": "...", "en": "..."}) in a locale given by a SQL expression:
    the exact locale, else its language, else the store's languages (`languages_expression`:
    a JSON array of language tags such as a store's `languages`, each tag exact, then its
    language; optional), else the project's languages (var `project_languages`, in order,
    then `default_locale`), else the first locale that has text. Only a value with no text
    at all is null: callers fall back to a technical key (SKU, id) only then. -#}
{% macro ctsync_localized(expression, locale_expression, languages_expression=none) -%}
    {{ return(adapter.dispatch('ctsync_localized', 'ctsync')(expression, locale_expression, languages_expression)) }}
{%- endmacro %}

{% macro ctsync_project_locales() -%}
    {%- set locales = [] -%}
    {%- for locale in var('project_languages', []) + [var('default_locale')] -%}
        {%- if locale not in locales %}{% do locales.append(locale) %}{% endif -%}
    {%- endfor -%}
    {{ return(locales) }}
{%- endmacro %}

{% macro default__ctsync_localized(expression, locale_expression, languages_expression=none) -%}
    coalesce(
        json_extract_path_text({{ expression }}, {{ locale_expression }}),
        json_extract_path_text({{ expression }}, split_part({{ locale_expression }}, '-', 1)),
        {%- if languages_expression is not none %}
        {#- portable SQL cannot loop over a JSON array: a store's first five languages #}
        {%- for position in range(5) %}
        json_extract_path_text({{ expression }}, json_extract_path_text({{ languages_expression }}, '{{ position }}')),
        json_extract_path_text({{ expression }}, split_part(json_extract_path_text({{ languages_expression }}, '{{ position }}'), '-', 1)),
        {%- endfor %}
        {%- endif %}
        {%- for locale in ctsync_project_locales() %}
        json_extract_path_text({{ expression }}, '{{ locale }}'){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro duckdb__ctsync_localized(expression, locale_expression, languages_expression=none) -%}
    coalesce(
        nullif(json_extract_string({{ expression }}, '$."' || {{ locale_expression }} || '"'), ''),
        nullif(json_extract_string({{ expression }}, '$."' || split_part({{ locale_expression }}, '-', 1) || '"'), ''),
        {%- if languages_expression is not none %}
        -- the store's languages, in the store's order
        list_filter(
            list_transform(
                json_extract_string({{ languages_expression }}, '$[*]'),
                lambda store_language: coalesce(
                    nullif(json_extract_string({{ expression }}, '$."' || store_language || '"'), ''),
                    nullif(json_extract_string({{ expression }}, '$."' || split_part(store_language, '-', 1) || '"'), '')
                )
            ),
            lambda text: text is not null
        )[1],
        {%- endif %}
        {%- for locale in ctsync_project_locales() %}
        nullif(json_extract_string({{ expression }}, '$."{{ locale }}"'), ''),
        {%- endfor %}
        -- raw localized strings carry every locale the table has seen, mostly null: take
        -- the first that has text, in the value's own order
        list_filter(json_extract_string({{ expression }}, '$.*'), lambda text: coalesce(text, '') <> '')[1]
    )
{%- endmacro %}


{% macro ctsync_json_array_contains(expression, path, number) -%}
    {{ return(adapter.dispatch('ctsync_json_array_contains', 'ctsync')(expression, path, number)) }}
{%- endmacro %}

{% macro default__ctsync_json_array_contains(expression, path, number) -%}
    json_exists({{ expression }}, 'lax {{ path }}[*] ? (@ == ' || cast({{ number }} as varchar(20)) || ')')
{%- endmacro %}

{% macro duckdb__ctsync_json_array_contains(expression, path, number) -%}
    coalesce(list_contains(cast(json_extract({{ expression }}, '{{ path }}') as bigint[]), {{ number }}), false)
{%- endmacro %}


{#- Whole seconds since 1970-01-01 UTC of a UTC timestamp. -#}
{% macro ctsync_epoch_seconds(expression) -%}
    {{ return(adapter.dispatch('ctsync_epoch_seconds', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_epoch_seconds(expression) -%}
    cast(floor(extract(epoch from {{ expression }})) as bigint)
{%- endmacro %}

{% macro duckdb__ctsync_epoch_seconds(expression) -%}
    cast(floor(epoch({{ expression }})) as bigint)
{%- endmacro %}


{#- A TIMESTAMP WITH TIME ZONE (or an ISO string) as a UTC TIMESTAMP without zone. -#}
{% macro ctsync_utc(expression) -%}
    {{ return(adapter.dispatch('ctsync_utc', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_utc(expression) -%}
    cast(cast({{ expression }} as timestamp with time zone) at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__ctsync_utc(expression) -%}
    timezone('UTC', cast({{ expression }} as timestamptz))
{%- endmacro %}


{#- ISO-8601 text with milliseconds and Z, for absolute dates in payloads. -#}
{% macro ctsync_iso8601(expression) -%}
    {{ return(adapter.dispatch('ctsync_iso8601', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_iso8601(expression) -%}
    to_char({{ expression }}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
{%- endmacro %}

{% macro duckdb__ctsync_iso8601(expression) -%}
    strftime({{ expression }}, '%Y-%m-%dT%H:%M:%S.%gZ')
{%- endmacro %}


{#- "Now" as a UTC timestamp; the `as_of` var pins it (tests, reruns of a past day). -#}
{% macro ctsync_now() -%}
    {{ return(adapter.dispatch('ctsync_now', 'ctsync')()) }}
{%- endmacro %}

{% macro default__ctsync_now() -%}
    {%- if var('as_of', none) -%}
        cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
        cast(current_timestamp at time zone 'UTC' as timestamp)
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__ctsync_now() -%}
    {%- if var('as_of', none) -%}
        cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
        timezone('UTC', current_timestamp)
    {%- endif -%}
{%- endmacro %}


{#- Money: commercetools centAmount and fractionDigits to exact decimal major units. -#}
{% macro ctsync_money(cent_amount, fraction_digits) -%}
    cast(
        cast({{ cent_amount }} as decimal(38, 0))
        * case {{ fraction_digits }}
            when 0 then 1.000000 when 1 then 0.100000 when 2 then 0.010000
            when 3 then 0.001000 when 4 then 0.000100 when 5 then 0.000010
            when 6 then 0.000001
        end
        as decimal(18, 6)
    )
{%- endmacro %}


{#- Is the text valid JSON? -#}
{% macro ctsync_json_valid(expression) -%}
    {{ return(adapter.dispatch('ctsync_json_valid', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_json_valid(expression) -%}
    ({{ expression }} is json)
{%- endmacro %}

{% macro duckdb__ctsync_json_valid(expression) -%}
    json_valid({{ expression }})
{%- endmacro %}


{#- One row per element of a JSON array column: select `id_columns` and the element
    (JSON text) as `element_name` from the CTE `relation`. -#}
{% macro ctsync_json_array_elements(relation, id_columns, json_column, element_name) -%}
    {{ return(adapter.dispatch('ctsync_json_array_elements', 'ctsync')(relation, id_columns, json_column, element_name)) }}
{%- endmacro %}

{% macro default__ctsync_json_array_elements(relation, id_columns, json_column, element_name) -%}
    select {{ id_columns | join(", ") }}, elements.value as {{ element_name }}
    from {{ relation }}
    cross join lateral json_array_elements(cast({{ json_column }} as json)) as elements
{%- endmacro %}

{% macro duckdb__ctsync_json_array_elements(relation, id_columns, json_column, element_name) -%}
    select {{ id_columns | join(", ") }}, cast(unnest(cast(cast({{ json_column }} as json) as json[])) as varchar) as {{ element_name }}
    from {{ relation }}
    where {{ json_column }} is not null
{%- endmacro %}


{#- Does the text match the regular expression anywhere? -#}
{% macro ctsync_regexp_like(expression, pattern) -%}
    {{ return(adapter.dispatch('ctsync_regexp_like', 'ctsync')(expression, pattern)) }}
{%- endmacro %}

{% macro default__ctsync_regexp_like(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__ctsync_regexp_like(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}


{#- Every control character (U+0000-U+001F, U+007F-U+009F) replaced by a space. -#}
{% macro ctsync_replace_control_characters(expression) -%}
    {{ return(adapter.dispatch('ctsync_replace_control_characters', 'ctsync')(expression)) }}
{%- endmacro %}

{% macro default__ctsync_replace_control_characters(expression) -%}
    regexp_replace({{ expression }}, '[\x00-\x1f\x7f-\x9f]', ' ', 'g')
{%- endmacro %}

{% macro duckdb__ctsync_replace_control_characters(expression) -%}
    regexp_replace({{ expression }}, '[\x00-\x1f\x7f-\x9f]', ' ', 'g')
{%- endmacro %}


{#- `object_json` plus a JSON null member for each name in `name_expressions` (SQL
    expressions giving a field name, or null for "not this one") that also appears in the
    JSON string array `owned_names_json`. Key order: the object's, then the nulls'. -#}
{% macro ctsync_json_add_nulls(object_json, name_expressions, owned_names_json) -%}
    {{ return(adapter.dispatch('ctsync_json_add_nulls', 'ctsync')(object_json, name_expressions, owned_names_json)) }}
{%- endmacro %}

{% macro default__ctsync_json_add_nulls(object_json, name_expressions, owned_names_json) -%}
    {{ exceptions.raise_compiler_error("ctsync_json_add_nulls has no implementation for this adapter: add <adapter>__ctsync_json_add_nulls beside duckdb__ctsync_json_add_nulls") }}
{%- endmacro %}

{% macro duckdb__ctsync_json_add_nulls(object_json, name_expressions, owned_names_json) -%}
    (
        select
            case
                when cardinality(cleared.names) = 0 then cleared.object_json
                else to_json(map_concat(
                    json_transform(cleared.object_json, '"MAP(VARCHAR, JSON)"'),
                    map_from_entries(list_transform(cleared.names, lambda name: {'key': name, 'value': cast('null' as json)}))
                ))
            end
        from (
            select
                cast({{ object_json }} as json) as object_json,
                list_filter(
                    [{{ name_expressions | join(', ') }}],
                    lambda name: name is not null
                        and list_contains(from_json(coalesce({{ owned_names_json }}, '[]'), '["VARCHAR"]'), name)
                ) as names
        ) as cleared
    )
{%- endmacro %}


{#- The JSON text `object_json` without the top-level `keys` (for hashing). -#}
{% macro ctsync_json_without_keys(object_json, keys) -%}
    {{ return(adapter.dispatch('ctsync_json_without_keys', 'ctsync')(object_json, keys)) }}
{%- endmacro %}

{% macro default__ctsync_json_without_keys(object_json, keys) -%}
    {{ exceptions.raise_compiler_error("ctsync_json_without_keys has no implementation for this adapter: add <adapter>__ctsync_json_without_keys beside duckdb__ctsync_json_without_keys") }}
{%- endmacro %}

{% macro duckdb__ctsync_json_without_keys(object_json, keys) -%}
    cast(json_merge_patch(cast({{ object_json }} as json), json_object({%- for key in keys %}'{{ key }}', null{{ ", " if not loop.last }}{%- endfor -%})) as varchar)
{%- endmacro %}


{#- Written after `name as` in a CTE that several parts of a query read, to keep it a
    view of its table: DuckDB otherwise computes such a CTE once, whole, every column of
    every row, before the filters and joins of its readers (iterable__users_changes read
    every payload of its desired table and ledger: 0.4 s instead of 0.08 at 100 000
    users). Postgres spells it the same; the default is nothing. -#}
{% macro ctsync_cte_inline() -%}
    {{ return(adapter.dispatch('ctsync_cte_inline', 'ctsync')()) }}
{%- endmacro %}

{% macro default__ctsync_cte_inline() -%}
{%- endmacro %}

{% macro duckdb__ctsync_cte_inline() -%}
    not materialized
{%- endmacro %}


{#- The rows of the table `relation` meeting `condition`, as a subquery. DuckDB reads a
    table's columns together: filtered by a semi-join (`key in (select ...)`), every payload
    of the table is decompressed to keep a few hundred rows. Selecting the row ids first and
    then the rows by id reads the other columns of the kept rows only (a data test of the
    changed purchases, at 100 000 customers: 0.12 s the plain way, 0.013 s by row id). Tables
    only: a view has no row ids. -#}
{% macro ctsync_table_rows_where(relation, condition) -%}
    {{ return(adapter.dispatch('ctsync_table_rows_where', 'ctsync')(relation, condition)) }}
{%- endmacro %}

{% macro default__ctsync_table_rows_where(relation, condition) -%}
    (select * from {{ relation }} where {{ condition }})
{%- endmacro %}

{% macro duckdb__ctsync_table_rows_where(relation, condition) -%}
    (select * from {{ relation }} where rowid in (select rowid from {{ relation }} where {{ condition }}))
{%- endmacro %}
