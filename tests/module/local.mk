# tests/module: to be written
