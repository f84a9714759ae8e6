"""Stand-in for rpaframework's RPA.Robocorp package (tests only)."""
