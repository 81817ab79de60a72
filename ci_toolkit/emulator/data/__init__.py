"""Demo data, the DuckDB store, OData queries, entities, segments and measures of one instance."""
