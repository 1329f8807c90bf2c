# tests/pool: to be written
