"""Generated from proto/fiscus/v1/*.proto by generate_stubs.py: do not edit. The API is ``fiscus``."""
