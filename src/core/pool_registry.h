/* pool_registry.h - STUB */
