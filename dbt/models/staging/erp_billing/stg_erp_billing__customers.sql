{{ stage_customers('erp_billing') }}
