/* A restricted pickle machine: runs a Python pickle without running code.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Loading a pickle in Python can run any code. This machine knows only the opcodes that plain
 * data needs (None, bools, ints, floats, strings, tuples, lists, dicts, the memo) and leaves
 * every way of reaching code to its host, through three hooks shaped like Python's
 * Unpickler: find_class (which module.name globals exist: an allow-list), persistent_load
 * (objects stored outside the pickle) and reduce (calling one of those allowed globals).
 * Anything else is refused as a format error. Every length, index and depth read from the
 * pickle is checked before use, and the limits below are enforced.
 *
 * Objects live in an arena owned by the machine and are freed together by
 * rvmi_pickle_finish, so memo references and even cycles need no bookkeeping. Strings point
 * into the pickle bytes, which must outlive the machine's objects.
 */
#ifndef RVM_PICKLE_H
#define RVM_PICKLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A state_dict pickle nests about 4 marks deep and its stack holds at most a SETITEMS batch
 * (pickle batches 1000 pairs). */
#define RVMI_PICKLE_MAX_STACK 65536
#define RVMI_PICKLE_MAX_MARKS 64
/* A pickler numbers memo entries 0, 1, 2...; an official checkpoint uses about 3600. */
#define RVMI_PICKLE_MAX_MEMO (1u << 20)
#define RVMI_PICKLE_MAX_OBJECTS (1u << 21)
/* Entries of one dict or list (a checkpoint of RVM has about 400 tensors). */
#define RVMI_PICKLE_MAX_ITEMS 65536

typedef enum {
    RVMI_PK_NONE,
    RVMI_PK_BOOL,
    RVMI_PK_INT,
    RVMI_PK_FLOAT,
    RVMI_PK_STR,
    RVMI_PK_TUPLE,
    RVMI_PK_LIST,
    RVMI_PK_DICT,   /* alternating key, value items; flag 1 for an OrderedDict */
    RVMI_PK_GLOBAL, /* a global that find_class allowed: u.global is the host's number */
    RVMI_PK_HOST,   /* an object made by a hook: u.host.type is the host's, data is owned */
} rvmi_pickle_kind;

typedef struct rvmi_pickle_obj rvmi_pickle_obj;

struct rvmi_pickle_obj {
    unsigned char kind;
    unsigned char flag; /* RVMI_PK_BOOL: the value; RVMI_PK_DICT: 1 for an OrderedDict */
    union {
        int64_t i;
        double f;
        int global;
        struct { /* points into the pickle bytes */
            const char *s;
            size_t len;
        } str;
        struct { /* tuple, list, and dict as alternating key, value */
            rvmi_pickle_obj **items;
            size_t n, cap;
        } seq;
        struct {
            int type;
            void *data; /* zeroed memory freed with the machine */
        } host;
    } u;
};

typedef struct rvmi_pickle rvmi_pickle;

/* What the host decides. Every hook returns 0 or an RVM_E* status after reporting it through
 * fail (the machine stops at the first non-zero status). */
typedef struct {
    /* Reports an error: the first one is the cause, the host keeps it. Returns code. */
    int (*fail)(void *user, int code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
    /* GLOBAL and STACK_GLOBAL: module.name (untrusted bytes, not NUL-terminated) becomes the
     * host's number for it (>= 0), or -1 when it is not allowed (the machine then refuses). */
    int (*find_class)(void *user, const char *module, size_t module_len, const char *name,
                      size_t name_len);
    /* For messages: an allowed global's name, and the name of a host object's type. */
    const char *(*global_name)(void *user, int global);
    const char *(*host_type_name)(void *user, int type);
    /* BINPERSID: the object that persistent id pid stands for. */
    int (*persistent_load)(void *user, rvmi_pickle *m, rvmi_pickle_obj *pid,
                           rvmi_pickle_obj **out);
    /* REDUCE: calls the allowed global number global with the tuple args. */
    int (*reduce)(void *user, rvmi_pickle *m, int global, rvmi_pickle_obj *args,
                  rvmi_pickle_obj **out);
} rvmi_pickle_hooks;

struct rvmi_pickle {
    const rvmi_pickle_hooks *hooks;
    void *user; /* the hooks' first argument */
    const uint8_t *pkl;
    size_t pkl_len, pos;
    rvmi_pickle_obj **stack;
    size_t sp, stack_cap;
    size_t marks[RVMI_PICKLE_MAX_MARKS];
    int nmarks;
    rvmi_pickle_obj **memo;
    size_t memo_cap, memo_count;
    struct rvmi_pickle_chunk *chunks;
    size_t nobjects;
};

/* Prepares m to run the len bytes at pkl (which must outlive m's objects) with the hooks,
 * which get user as their first argument. */
void rvmi_pickle_init(rvmi_pickle *m, const rvmi_pickle_hooks *hooks, void *user,
                      const uint8_t *pkl, size_t len);
/* Runs the pickle to its STOP; *result is the object it leaves (owned by m). */
int rvmi_pickle_run(rvmi_pickle *m, rvmi_pickle_obj **result);
/* Frees every object and the machine's own memory (m can then be dropped). */
void rvmi_pickle_finish(rvmi_pickle *m);

/* For hooks: a new object of kind (zeroed). */
int rvmi_pickle_new(rvmi_pickle *m, rvmi_pickle_kind kind, rvmi_pickle_obj **out);
/* For hooks: a new host object of type with size bytes of zeroed data. */
int rvmi_pickle_new_host(rvmi_pickle *m, int type, size_t size, rvmi_pickle_obj **out);
/* Reports through the host's fail hook. */
int rvmi_pickle_fail(rvmi_pickle *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The type of o as Python would name it (or the host's name for globals and its objects). */
const char *rvmi_pickle_type_name(const rvmi_pickle *m, const rvmi_pickle_obj *o);
int rvmi_pickle_is_str(const rvmi_pickle_obj *o, const char *s);
int rvmi_pickle_is_empty_dict(const rvmi_pickle_obj *o);

#endif
