{{ stage_customers('crm') }}
