with

field_definitions as (

    {{ ctsync_source_list('commercetools', 'types', 'types__field_definitions', [
        ['name', 'varchar'],
        ['type__name', 'varchar'],
        ['required', 'boolean'],
    ]) }}

),

renamed as (

    select
        field_definitions.root_id || ':' || field_definitions.name as type_field_definition_id,
        field_definitions.root_id as type_id,
        field_definitions.name as field_name,
        field_definitions.type__name as field_type,
        coalesce(field_definitions.required, false) as is_required,
        field_definitions._dlt_list_idx as field_position

    from field_definitions

)

select * from renamed
