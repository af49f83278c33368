"""The gRPC stubs, generated from proto/fiscus/v1/*.proto by generate_stubs.py when the package is
installed (never committed). An implementation detail: the API is ``fiscus``."""
