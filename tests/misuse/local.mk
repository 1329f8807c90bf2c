# tests/misuse: (being written)
