{{
    config(
        materialized='incremental',
        unique_key='store_key',
        incremental_strategy='ctsync_changed_rows',
        on_schema_change='fail',
    )
}}
-- Market context per store: country, language, currency, channel. Stores have no currency
-- field, so a `currency` custom field wins, else the currency most of the store's orders use.
-- Only rows that changed are written, stamped `changed_at` (macros/ctsync_incremental.sql):
-- a store whose market changed changes every customer's (int_changes__customers).
with

stores as (

    select * from {{ ref('stg_commercetools__stores') }}

),

orders as (

    select * from {{ ref('stg_commercetools__orders') }}

),

order_currencies as (

    select
        store_key,
        currency_code,
        count(*) as order_count,
        row_number() over (
            partition by store_key order by count(*) desc, currency_code
        ) as currency_rank

    from orders
    where store_key is not null
    group by store_key, currency_code

),

final as (

    select
        stores.store_id,
        stores.store_key,
        stores.store_name,
        coalesce(stores.country_code_custom, stores.primary_country_code) as country_code,
        coalesce(stores.default_locale_custom, stores.primary_language) as locale,
        {{ ctsync_language_code('coalesce(stores.default_locale_custom, stores.primary_language)') }} as language_code,
        stores.languages_json as store_languages_json,
        coalesce(stores.currency_code_custom, order_currencies.currency_code) as currency_code,
        stores.primary_distribution_channel_id as channel_id,
        {{ ctsync_clock() }} as changed_at

    from stores
    left join order_currencies
        on stores.store_key = order_currencies.store_key
        and order_currencies.currency_rank = 1

)

select * from final
