# tests/node: being written
