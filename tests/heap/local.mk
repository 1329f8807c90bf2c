# tests/heap: to be written
