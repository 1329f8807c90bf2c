# tools/pooldump: being written
