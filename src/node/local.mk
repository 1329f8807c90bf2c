# src/node: being written
