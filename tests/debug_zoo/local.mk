# tests/debug_zoo: being written
