with

field_definitions as (

    {{ ctsync_source('commercetools', 'types__field_definitions', [
        ['name', 'varchar'],
        ['type__name', 'varchar'],
        ['required', 'boolean'],
        ['_dlt_root_id', 'varchar'],
        ['_dlt_list_idx', 'bigint'],
    ]) }}

),

types as (

    {{ ctsync_source('commercetools', 'types', [['id', 'varchar'], ['_dlt_id', 'varchar']]) }}

),

renamed as (

    select
        types.id || ':' || field_definitions.name as type_field_definition_id,
        types.id as type_id,
        field_definitions.name as field_name,
        field_definitions.type__name as field_type,
        coalesce(field_definitions.required, false) as is_required,
        field_definitions._dlt_list_idx as field_position

    from field_definitions
    inner join types
        on field_definitions._dlt_root_id = types._dlt_id

)

select * from renamed
