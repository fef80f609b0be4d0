"""Value standardisers used inside DuckDB (registered as UDFs by the dbt plugin)."""
