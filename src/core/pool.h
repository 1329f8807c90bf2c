/* pool.h - STUB */
