{#-
    How text that is large, or unique and read whole, is stored (README "Warehouse footprint").

    Payload columns (`payload`: the JSON a record is sent as, or what the ledger keeps of it)
    were the largest columns of the warehouse, and the changelog's ids and keys (one row per
    record sent, never updated) the next. DuckDB's automatic choice for text
    (dictionary + FSST) keeps a JSON document at about half its length; ZSTD at about a fifth
    (`bench/warehouse_size.py`). DuckDB applies ZSTD to a column only when the table's DDL
    names it (`using compression`), and `create table as` names none, so:

    * `ctsync_compressed_text()`: what follows `varchar` in a DDL column stored so (the audit
      tables, macros/ctsync_audit_tables.sql); nothing on other adapters;
    * `duckdb__create_table_as` (dbt-duckdb's macro, overridden): a model table with a
      `payload` column (or the columns of model config `compressed_text_columns`) is created
      from its query's described columns, those with ZSTD, and filled by `insert`; every
      other table as dbt-duckdb creates it. Incremental runs insert into the table they
      created, so the columns keep their compression;
    * `duckdb__get_table_columns_and_constraints` (dbt's, overridden): the DDL of a model
      with an enforced contract, the same columns with ZSTD.

    Short repeated text (names, states, ids read in joins) and hashes (random hex) keep
    DuckDB's choice: ZSTD stores them larger. Keys built from another key and a suffix, whose
    neighbouring rows share their start (`<person>:<kind>:<id>`, `<source>:<event>`), are the
    exception: ZSTD stores them smaller (at 100 000 customers: the consent decisions'
    `record_key` 15.0 -> 12.5 MB, the events' `record_key` and `source_key` 28.0 -> 22.2, the
    ledger's `record_key` 19.0 -> 14.5; measured by hand: a column copied into a table of
    its own, by its used blocks), so those models name them in `compressed_text_columns`.
-#}

{% macro ctsync_compressed_text() -%}
    {{ return(adapter.dispatch('ctsync_compressed_text', 'ctsync')()) }}
{%- endmacro %}

{% macro default__ctsync_compressed_text() -%}
{%- endmacro %}

{% macro duckdb__ctsync_compressed_text() -%}
    using compression zstd
{%- endmacro %}


{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set large = config.get('compressed_text_columns', ['payload']) -%}
    {%- set contract_config = config.get('contract') -%}
    {%- set plain = (
        language != 'sql' or temporary or not execute or not large
        or partitioned_by or sorted_by or (contract_config and contract_config.enforced)
    ) -%}
    {%- set described = [] if plain else run_query('describe ' ~ compiled_code) -%}
    {%- set columns = [] -%}
    {%- set compressed = [] -%}
    {%- for row in described -%}
        {%- set is_large = row[0] in large and row[1] == 'VARCHAR' -%}
        {%- do columns.append(adapter.quote(row[0]) ~ ' ' ~ row[1] ~ (' ' ~ ctsync_compressed_text() if is_large else '')) -%}
        {%- if is_large -%}{%- do compressed.append(row[0]) -%}{%- endif -%}
    {%- endfor -%}
    {%- if compressed -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {{ sql_header if sql_header is not none }}
    create table {{ relation }} (
        {{ columns | join(',\n        ') }}
    );
    insert into {{ relation }}
        select * from (
            {{ compiled_code }}
        ) as model_subq;
    {%- else -%}
    {{ dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by) }}
    {%- endif -%}
{%- endmacro %}


{% macro duckdb__get_table_columns_and_constraints() -%}
    {%- set large = config.get('compressed_text_columns', ['payload']) -%}
    {%- set rendered = adapter.render_raw_columns_constraints(raw_columns=model['columns']) -%}
    {%- set model_constraints = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    {%- set names = model['columns'].keys() | list -%}
    {%- set definitions = [] -%}
    {%- for definition in rendered -%}
        {%- set is_large = names[loop.index0] in large
            and (model['columns'][names[loop.index0]]['data_type'] or '') | lower == 'varchar' -%}
        {%- do definitions.append(definition ~ (' ' ~ ctsync_compressed_text() if is_large else '')) -%}
    {%- endfor -%}
    (
        {{ (definitions + model_constraints) | join(',\n        ') }}
    )
{%- endmacro %}
