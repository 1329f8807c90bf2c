/*
 * module_log.h - what the test modules report to the module manager's test:
 * calls of their std_ops, and results of the gets they make themselves.
 *
 * It is a shared library linked by the test program and by every test
 * module, so there is one log per process and it outlives the module images
 * (which the manager unloads). It copies every name it is given, since a
 * module's strings vanish with its image. All calls are thread-safe.
 */
#ifndef MODULE_LOG_H
#define MODULE_LOG_H

#include <module.h>

/* module_log_noted() for a key nobody noted: no status_t looks like it. */
#define MODULE_LOG_NOT_NOTED ((status_t)0x7eadbeef)

/*
 * A module's std_ops: counts the call, logs "+name" (init) or "-name"
 * (uninit), and returns what the test set with module_log_set_result()
 * (B_OK by default). Calls that would init an initialised module, or uninit
 * one that is not initialised, are counted as violations.
 */
status_t module_log_std_ops(const char *module_name, int32 op);

void module_log_set_result(const char *module_name, int32 op, status_t result);
int32 module_log_calls(const char *module_name, int32 op);
int32 module_log_violations(void);

/*
 * The events so far, space-separated, e.g. "+test/a/v1 -test/a/v1". The
 * buffer is not copied: read it while no other thread runs a std_ops.
 */
const char *module_log_events(void);

/* A module notes the result of something it did, for the test to check. */
void module_log_note(const char *key, status_t status);
status_t module_log_noted(const char *key);

#endif /* MODULE_LOG_H */
