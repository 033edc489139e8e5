{#-
    Iterable payload helpers. The project type (var `iterable_project_type`) decides how a
    user is identified in every request: email, userId, or both (hybrid).
-#}

{#- [key, expression] pairs identifying a resolved user at the top level of a request. -#}
{% macro iterable_identity_pairs(email, user_id) -%}
    {%- set project_type = var('iterable_project_type') -%}
    {%- if project_type == 'email' -%}
        {{ return([['email', email]]) }}
    {%- elif project_type == 'userId' -%}
        {{ return([['userId', user_id], ['email', email]]) }}
    {%- else -%}
        {{ return([['email', email], ['userId', user_id]]) }}
    {%- endif -%}
{%- endmacro %}


{#- A JSON `user` object (ApiUserUpdateRequest) for a contact that may lack a userId (guests):
    guests are identified by email alone, which email and hybrid projects allow. -#}
{% macro iterable_user_object(email, user_id) -%}
    {%- if var('iterable_project_type') == 'email' -%}
        {{ ctsync_json_object([['email', email]]) }}
    {%- else -%}
        case
            when {{ user_id }} is null then {{ ctsync_json_object([['email', email]]) }}
            else {{ ctsync_json_object(iterable_identity_pairs(email, user_id)) }}
        end
    {%- endif -%}
{%- endmacro %}


{#- A user's dataFields: the pairs with a value, plus a null for each pair without one that
    this project sent with a value before (`owned_names_json`: JSON array of field names).
    Absent means "leave it alone" to Iterable; null deletes the field. -#}
{% macro iterable_owned_data_fields(pairs, owned_names_json) -%}
    {%- set candidates = [] -%}
    {%- for key, expression in pairs -%}
        {%- do candidates.append("case when (" ~ expression ~ ") is null then '" ~ key ~ "' end") -%}
    {%- endfor -%}
    {{ ctsync_json_add_nulls(ctsync_json_object_absent_on_null(pairs), candidates, owned_names_json) }}
{%- endmacro %}


{#- Money for a payload: a JSON number, rounded to 4 places so it renders the same every run. -#}
{% macro iterable_number(expression) -%}
    cast(cast({{ expression }} as decimal(18, 4)) as double)
{%- endmacro %}


{#-
    The body of an `iterable__<object>_changes` view (docs/CONTRACTS.md §4): desired rows
    whose payload_hash the ledger does not hold (new, changed, or deleted earlier and desired
    again), plus, for objects that support removal, a `delete` for every acknowledged upsert
    that is no longer desired. Unchanged rows never appear.

    `removal_handled_by`: a model whose `record_key`s get no `delete` here because that
    object removes them itself (users deleted in commercetools -> `user_deletions`).
    `removal_needs_live_user`: no `delete` for a key whose Iterable user this project
    deleted or moved away (users ledger row not an upsert): removing a cart sends updateCart,
    which would re-create the profile.
    Var `ctsync_full_resync` (never set in a dbt build): every desired row is an upsert, as
    `ctsync sync --full` sends them; the sync renders this macro with it (sync/planner.py).

    The pieces below (inputs, upsert columns, the unsent filter, removals, delete columns,
    the final select) are the one definition of the rule; iterable__users_changes builds its
    moves and updates from the same pieces.
-#}
{% macro iterable_changes(object_name, supports_removal=false, idempotency='hash', removal_handled_by=none, removal_needs_live_user=false) -%}
with

{{ iterable_changes_inputs(object_name, removal_handled_by) }},

upserts as (

    select
        desired.record_key,
        'upsert' as operation,
        {{ iterable_changes_upsert_columns(object_name, idempotency) }}

    from desired
    left join ledger
        on desired.record_key = ledger.record_key
    {{- iterable_changes_unsent_filter() }}

),
{%- if supports_removal %}

removed as (

    {{ iterable_changes_removed(removal_handled_by, removal_needs_live_user) }}

),

deletes as (

    select
        {{ iterable_changes_delete_columns(object_name, 'removed') }}

    from removed

),
{%- endif %}

final as (

    select * from upserts
    {%- if supports_removal %}
    union all
    select * from deletes
    {%- endif %}

)

{{ iterable_changes_select('final') }}
{%- endmacro %}


{#- The import CTEs of a changes view: `desired` (the object's desired state), `ledger` (what
    the sync acknowledged for it) and, with `removal_handled_by`, `handled_elsewhere`. -#}
{% macro iterable_changes_inputs(object_name, removal_handled_by=none) -%}
desired as {{ ctsync_cte_inline() }} (

    select * from {{ ref('iterable__' ~ object_name) }}

),

ledger as {{ ctsync_cte_inline() }} (

    select *
    from {{ source('ctsync', 'sync_ledger') }}
    where object = '{{ object_name }}'

)
{%- if removal_handled_by is not none %},

handled_elsewhere as (

    select distinct record_key from {{ ref(removal_handled_by) }}

)
{%- endif %}
{%- endmacro %}


{#- The columns after `operation` of a desired row sent (`desired` joined to `ledger`). -#}
{% macro iterable_changes_upsert_columns(object_name, idempotency='hash') -%}
desired.payload,
        desired.payload_hash,
        {%- if idempotency == 'event_id' %}
        desired.event_id as idempotency_key,
        {%- else %}
        '{{ object_name }}:' || desired.record_key || ':' || coalesce(desired.payload_hash, 'no-payload') as idempotency_key,
        {%- endif %}
        desired.source_updated_at
{%- endmacro %}


{#- The diff rule: a desired row is sent unless the ledger holds it acknowledged as a live
    upsert with the same payload_hash. A full resync (var `ctsync_full_resync`) sends all. -#}
{% macro iterable_changes_unsent_filter() -%}
    {%- if not var('ctsync_full_resync', false) %}
    where ledger.record_key is null
        -- deleted, or (users) moved away: desired again under this key
        or ledger.operation <> 'upsert'
        or ledger.payload_hash is null
        or ledger.payload_hash <> desired.payload_hash
        -- a row the models could not build a payload for goes to the sync, whose validator
        -- rejects it (invalid_payload) instead of the whole object being held back
        or desired.payload_hash is null
    {%- endif %}
{%- endmacro %}


{#- The ledger rows (`ledger.*`) of acknowledged upserts no longer desired: what a removal
    would take away (see iterable_changes for the two options). -#}
{% macro iterable_changes_removed(removal_handled_by=none, removal_needs_live_user=false) -%}
select ledger.*
    from ledger
    left join desired
        on ledger.record_key = desired.record_key
    {%- if removal_handled_by is not none %}
    left join handled_elsewhere
        on ledger.record_key = handled_elsewhere.record_key
    {%- endif %}
    {%- if removal_needs_live_user %}
    left join {{ source('ctsync', 'sync_ledger') }} as user_ledger
        on user_ledger.object = 'users'
        and ledger.record_key = user_ledger.record_key
    {%- endif %}
    where ledger.operation = 'upsert'
        and desired.record_key is null
        {%- if removal_handled_by is not none %}
        and handled_elsewhere.record_key is null
        {%- endif %}
        {%- if removal_needs_live_user %}
        and (user_ledger.record_key is null or user_ledger.operation = 'upsert')
        {%- endif %}
{%- endmacro %}


{#- The columns of a `delete` row for the ledger rows in `relation`. -#}
{% macro iterable_changes_delete_columns(object_name, relation) -%}
{{ relation }}.record_key,
        'delete' as operation,
        {{ relation }}.payload,
        cast(null as {{ dbt.type_string() }}) as payload_hash,
        '{{ object_name }}:' || {{ relation }}.record_key || ':delete:' || coalesce({{ relation }}.payload_hash, '') as idempotency_key,
        cast(null as {{ dbt.type_timestamp() }}) as source_updated_at
{%- endmacro %}


{#- The columns and types of every changes view (docs/CONTRACTS.md §4), from `relation`. -#}
{% macro iterable_changes_select(relation) -%}
select
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    cast(operation as {{ dbt.type_string() }}) as operation,
    cast(payload as {{ dbt.type_string() }}) as payload,
    cast(payload_hash as {{ dbt.type_string() }}) as payload_hash,
    cast(idempotency_key as {{ dbt.type_string() }}) as idempotency_key,
    cast(source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at
from {{ relation }}
{%- endmacro %}


{#- A JSON object with the contact's identity between `before` and `after` pairs; contacts
    without a userId (guests, in email and hybrid projects) carry their email alone. -#}
{% macro iterable_identified_object(email, user_id, before, after) -%}
    {%- if var('iterable_project_type') == 'email' -%}
        {{ ctsync_json_object(before + [['email', email]] + after) }}
    {%- else -%}
        case
            when {{ user_id }} is null then {{ ctsync_json_object(before + [['email', email]] + after) }}
            else {{ ctsync_json_object(before + iterable_identity_pairs(email, user_id) + after) }}
        end
    {%- endif -%}
{%- endmacro %}


{#- The columns of one custom event (int_iterable__events), the same for every kind: its
    name and source id, the person (`person`.email and .user_id), the store, currency,
    language and channel of `context` (its store key column: `store_key`), its `details`
    ([key, expression] pairs), and when it happened and changed. -#}
{% macro iterable_event_columns(event_name, source_id, person, context, details, occurred_at, source_updated_at, store_key=none) -%}
'{{ event_name }}' as event_name,
        {{ source_id }} as source_id,
        {{ person }}.email,
        {{ person }}.user_id,
        {{ occurred_at }} as occurred_at,
        {{ source_updated_at }} as source_updated_at,
        {{ store_key or context ~ '.store_key' }} as store_key,
        {{ context }}.currency_code,
        {{ context }}.language_code,
        {{ context }}.channel_id,
        {{ ctsync_json_object(details) }} as detail_fields
{%- endmacro %}


{#- One Iterable CommerceItem (updateCart and trackPurchase `items[]`), one shape for cart
    lines, order lines and custom lines: `id`; `sku` and `name` cleaned (iterable_text), the
    name falling back to the SKU, then to `name_fallback`; `categories`, the product's
    `category_path` as a one-element array ([] without one, or when none is given); `price`
    per unit (`line_total` / quantity) as a rounded number; `quantity`; `imageUrl` (left out
    when `image_url` is none); and the `data_fields` pairs. -#}
{% macro iterable_commerce_item(id, sku, name, name_fallback, category_path, line_total, quantity, image_url, data_fields) -%}
    {%- set no_categories = ctsync_json("'[]'") -%}
    {%- set pairs = [
        ['id', id],
        ['sku', iterable_text(sku)],
        ['name', 'coalesce(' ~ iterable_text(name) ~ ', ' ~ iterable_text(sku) ~ ', ' ~ name_fallback ~ ')'],
        ['categories', no_categories if category_path is none else
            'case when ' ~ category_path ~ ' is null then ' ~ no_categories
            ~ ' else ' ~ ctsync_json_array([iterable_text(category_path)]) ~ ' end'],
        ['price', iterable_number(line_total ~ ' / nullif(' ~ quantity ~ ', 0)')],
        ['quantity', quantity],
    ] -%}
    {%- if image_url is not none -%}
        {%- do pairs.append(['imageUrl', image_url]) -%}
    {%- endif -%}
    {%- do pairs.append(['dataFields', ctsync_json_object(data_fields)]) -%}
    {{ ctsync_json_object(pairs) }}
{%- endmacro %}


{#- Localized text (a product or line name) in a record's language: the record's `locale`
    (var default_locale when it has none), then its store's languages, then the project's,
    then any locale with text (ctsync_localized). -#}
{% macro ctsync_localized_for(expression, locale, store_languages_json='markets.store_languages_json') -%}
    {{ ctsync_localized(expression, "coalesce(" ~ locale ~ ", '" ~ var('default_locale') ~ "')", store_languages_json) }}
{%- endmacro %}


{#- The language of a locale (`de-DE` -> `de`), as every model derives it. -#}
{% macro ctsync_language_code(locale) -%}
    {{ dbt.split_part(locale, "'-'", 1) }}
{%- endmacro %}


{#- The columns of a desired-state table that the `_changes` diff and the sync read
    (docs/CONTRACTS.md §4): record_key, payload, payload_hash (the hash of `hashed`, by
    default the whole payload) and source_updated_at, from `relation`. -#}
{% macro iterable_desired_select(relation='final', hashed='payload', extra=[]) -%}
select
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    payload,
    cast({{ dbt.hash(hashed) }} as {{ dbt.type_string() }}) as payload_hash,
    cast(source_updated_at as {{ dbt.type_timestamp() }}) as source_updated_at
    {%- for column in extra %},
    {{ column }}
    {%- endfor %}
from {{ relation }}
{%- endmacro %}


{#- The latest open cart (with items) of each user whose cart contact is identifiable: what
    iterable__carts holds one row per user for (`user_key`), with the cart's columns, the
    user's identity and its hash. Computed in full every build (a join and a window, no
    JSON); iterable__carts builds the costly payload only for the users whose row changed. -#}
{% macro iterable_cart_owners() -%}
select *
from (
    select
        carts.*,
        contacts.email,
        contacts.user_id,
        coalesce(contacts.user_id, contacts.email) as user_key,
        cast({{ dbt.hash("coalesce(contacts.email, '') || '|' || coalesce(contacts.user_id, '')") }} as {{ dbt.type_string() }}) as identity_hash,
        row_number() over (
            partition by coalesce(contacts.user_id, contacts.email)
            order by carts.last_modified_at desc, carts.cart_id
        ) as cart_rank

    from {{ ref('fct_carts') }} as carts
    inner join {{ ref('int_iterable__contact_identities') }} as contacts
        on contacts.contact_type = 'cart'
        and carts.cart_id = contacts.contact_id
        and contacts.is_identifiable
    where carts.is_open_with_items
) as ranked
where cart_rank = 1
{%- endmacro %}


{#- Post-hook of the incremental iterable__carts: a user who no longer has an open cart (it
    was ordered or emptied, or their contact is no longer identifiable) loses their row. -#}
{% macro iterable_carts_keep_owners() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where not exists (
        select 1 from ({{ iterable_cart_owners() }}) as owners
        where owners.user_key = {{ this }}.record_key
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- True when int_changes__since says every row must be rebuilt (no earlier build, or
    reference data or a store's market changed since); the model declares `-- depends_on:`
    int_changes__since. -#}
{% macro iterable_everything_changed() -%}
    exists (select 1 from {{ ref('int_changes__since') }} as since where since.is_everything)
{%- endmacro %}


{#- The body of an `fx_rates` import CTE: the seed's rates to var base_currency (an amount
    in `currency_code` times `rate` is the amount in the base currency). -#}
{% macro ctsync_fx_rates_to_base() -%}
select * from {{ ref('fx_rates') }}
    where base_currency_code = '{{ var("base_currency") }}'
{%- endmacro %}


{#- Post-hook of the incremental iterable__purchases: remove orders that no longer qualify
    (cancelled, their contact is no longer identifiable, e.g. the customer was deleted, or
    before a backfill window that moved). -#}
{% macro iterable_purchases_prune() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where record_key not in (
        select orders.order_id
        from {{ ref('fct_orders') }} as orders
        inner join {{ ref('int_iterable__contact_identities') }} as contacts
            on contacts.contact_type = 'order'
            and orders.order_id = contacts.contact_id
            and contacts.is_identifiable
        cross join {{ ref('int_iterable__backfill_window') }} as backfill_window
        where orders.is_counted_in_lifetime_value
            and (backfill_window.purchase_window_start_at is null
                or orders.created_at >= backfill_window.purchase_window_start_at)
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- A boolean SQL expression for the incremental models that keep only what falls inside the
    backfill window (iterable__events, iterable__purchases): the window moved since the last
    build (int_iterable__backfill_window rewrote its row after that build ended), so every row
    must be decided again. The model declares `-- depends_on:` int_changes__since. -#}
{% macro iterable_backfill_window_moved() -%}
    coalesce((
        select max(case when window_row.changed_at > since.stamped_at then 1 else 0 end)
        from {{ ref('int_iterable__backfill_window') }} as window_row
        cross join {{ ref('int_changes__since') }} as since
    ), 0) = 1
{%- endmacro %}


{#- The same question, answered while the model compiles (one query): for a model whose
    filters of changed records sit under joins, where an `or` with a subquery would keep a
    planner from pushing them down (int_iterable__events). False outside incremental runs. -#}
{% macro iterable_backfill_window_has_moved() -%}
    {%- if not execute or not is_incremental() or model.resource_type == 'unit_test' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query('select ' ~ iterable_backfill_window_moved()) -%}
    {{ return(found.rows[0][0]) }}
{%- endmacro %}


{#- Post-hook of the incremental iterable__events: remove the rows chosen in an earlier
    backfill window (the window moved; the rows of the new one were all rebuilt). -#}
{% macro iterable_events_prune() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where event_window_start_at is distinct from (
        select event_window_start_at from {{ ref('int_iterable__backfill_window') }}
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- Free text for an Iterable field: control characters (C0, DEL, C1) become spaces, the
    result is trimmed and cut to var `iterable_max_text_length`; empty text is null.
    The one cleaning rule for every text value a payload carries (profile fields, item and
    category names, SKUs, catalog item fields, event fields): a value too long or with
    control characters is cut and cleaned, never rejected, so it cannot fail a batch.
    Iterable stores about 32 k characters per field and 30 KB per catalog item; the default
    limit (1000) keeps every record far below both. -#}
{% macro iterable_text(expression) -%}
    nullif(trim(substring({{ ctsync_replace_control_characters(expression) }}, 1, {{ var('iterable_max_text_length') }})), '')
{%- endmacro %}
