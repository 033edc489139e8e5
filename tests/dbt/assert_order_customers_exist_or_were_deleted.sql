-- Every order of a registered customer points at a customer we know, or one commercetools
-- told us (CustomerDeleted) it deleted: orders outlive their customers.
select orders.order_id, orders.customer_id
from {{ ref('fct_orders') }} as orders
left join {{ ref('stg_commercetools__customers') }} as customers
    on orders.customer_id = customers.customer_id
left join {{ ref('int_customers__deleted') }} as deleted_customers
    on orders.customer_id = deleted_customers.customer_id
where orders.customer_id is not null
    and customers.customer_id is null
    and deleted_customers.customer_id is null
