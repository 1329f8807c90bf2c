# tests/debug_api: the debug module's options parser, companion API and
# capacity promises (being written).
