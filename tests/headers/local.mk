# tests/headers: to be written
