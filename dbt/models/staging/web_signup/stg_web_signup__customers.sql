{{ stage_customers('web_signup') }}
