"""Generated protobuf and gRPC stubs of secretbroker.v1 (regenerate with gen.sh; do not edit)."""
