# tests/faults: (being written)
