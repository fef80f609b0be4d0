{{ stage_customers('call_center') }}
