# tests/node_writer: being written
