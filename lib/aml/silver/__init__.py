"""Silver: typed, conformed, deduplicated, enriched and encrypted tables built from bronze."""
