"""Stand-in for rpaframework's RPA package (tests only)."""
