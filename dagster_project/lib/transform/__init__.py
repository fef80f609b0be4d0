"""dbt integration: the DuckDB plugin that registers UDFs, and the vars dbt runs with."""
