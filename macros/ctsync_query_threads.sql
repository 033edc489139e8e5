{#-
    How many threads DuckDB spreads one query over (on-run-start, dbt_project.yml).

    dbt already runs two nodes at once (profiles.yml `threads: 2`, one per core). A build of
    what changed (`--select`: every job's build after its first, `ctsync build --select`)
    runs many small queries, and DuckDB spreading each over every core made the two nodes'
    queries compete for the cores: one thread per query made incremental builds at 100 000
    customers faster (by hand, the same builds alternating: 3.27 -> 2.96 s). A build of
    every model keeps DuckDB's default (a thread per core): its queries are large, and a
    slow model on the critical path gets every core. The setting lives as long as the
    database is open, so each build sets it. Nothing on other adapters.
-#}
{% macro ctsync_query_threads() -%}
    {{ return(adapter.dispatch('ctsync_query_threads', 'ctsync')()) }}
{%- endmacro %}

{% macro default__ctsync_query_threads() -%}
    select 1
{%- endmacro %}

{% macro duckdb__ctsync_query_threads() -%}
    {%- if execute and invocation_args_dict.get('select') -%}
    set threads = 1
    {%- else -%}
    reset threads
    {%- endif -%}
{%- endmacro %}
