{%- set tables = ['customers', 'orders', 'carts', 'messages', 'products', 'categories', 'customer_groups', 'stores', 'types'] -%}
-- Which dlt load last changed each commercetools record (`_dlt_load_id`), for the models
-- that rebuild only what changed (int_changes__records). A record re-read with the same
-- version keeps the id of the load that changed it (the ingest resets it: a re-read is no
-- change). dlt rewrites a record's child rows (addresses, line items, return items,
-- variants) with the record, so the parent's load says when they changed too.
with
{% for table in tables %}

{{ table }} as (

    {{ ctsync_source('commercetools', table, [
        ['id', 'varchar'],
        ['_dlt_load_id', 'varchar'],
    ]) }}

),
{%- endfor %}

final as (
{% for table in tables %}
    select
        '{{ table }}' as table_name,
        id as record_id,
        _dlt_load_id as load_id

    from {{ table }}
    {%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}

)

select * from final
