# tests/runner: (being written)
