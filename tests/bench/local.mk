# tests/bench: being written
