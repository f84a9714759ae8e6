"""Tests of the secretbroker Python client (run by clients/python/test.sh)."""
