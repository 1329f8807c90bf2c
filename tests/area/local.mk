# tests/area: to be written
