/* The restricted pickle machine (see pickle.h): objects, the stack and its marks, the memo,
 * and the opcodes plain data needs. Whatever could run code goes to the host's hooks.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include "model/pickle.h"

#include <stdlib.h>
#include <string.h>

#include "model/library.h"
#include "rvm.h"

/* --- Opcodes ------------------------------------------------------------------------------ */

/* Every opcode of pickle protocols 0 to 5 (Python's Lib/pickletools.py), so that a refusal
 * names the one it met; the dispatch in rvmi_pickle_run handles a few of them. */
#define PICKLE_OPCODES(X)                                                                     \
    X(MARK, '(') X(STOP, '.') X(POP, '0') X(POP_MARK, '1') X(DUP, '2') X(FLOAT, 'F')          \
    X(INT, 'I') X(BININT, 'J') X(BININT1, 'K') X(LONG, 'L') X(BININT2, 'M') X(NONE, 'N')      \
    X(PERSID, 'P') X(BINPERSID, 'Q') X(REDUCE, 'R') X(STRING, 'S') X(BINSTRING, 'T')          \
    X(SHORT_BINSTRING, 'U') X(UNICODE, 'V') X(BINUNICODE, 'X') X(APPEND, 'a') X(BUILD, 'b')   \
    X(GLOBAL, 'c') X(DICT, 'd') X(EMPTY_DICT, '}') X(APPENDS, 'e') X(GET, 'g')                \
    X(BINGET, 'h') X(INST, 'i') X(LONG_BINGET, 'j') X(LIST, 'l') X(EMPTY_LIST, ']')           \
    X(OBJ, 'o') X(PUT, 'p') X(BINPUT, 'q') X(LONG_BINPUT, 'r') X(SETITEM, 's') X(TUPLE, 't')  \
    X(EMPTY_TUPLE, ')') X(SETITEMS, 'u') X(BINFLOAT, 'G') X(BINBYTES, 'B')                    \
    X(SHORT_BINBYTES, 'C') X(PROTO, 0x80) X(NEWOBJ, 0x81) X(EXT1, 0x82) X(EXT2, 0x83)        \
    X(EXT4, 0x84) X(TUPLE1, 0x85) X(TUPLE2, 0x86) X(TUPLE3, 0x87) X(NEWTRUE, 0x88)            \
    X(NEWFALSE, 0x89) X(LONG1, 0x8a) X(LONG4, 0x8b) X(SHORT_BINUNICODE, 0x8c)                 \
    X(BINUNICODE8, 0x8d) X(BINBYTES8, 0x8e) X(EMPTY_SET, 0x8f) X(ADDITEMS, 0x90)              \
    X(FROZENSET, 0x91) X(NEWOBJ_EX, 0x92) X(STACK_GLOBAL, 0x93) X(MEMOIZE, 0x94)              \
    X(FRAME, 0x95) X(BYTEARRAY8, 0x96) X(NEXT_BUFFER, 0x97) X(READONLY_BUFFER, 0x98)

enum {
#define OPCODE_VALUE(name, byte) OP_##name = byte,
    PICKLE_OPCODES(OPCODE_VALUE)
#undef OPCODE_VALUE
};

static const char *opcode_name(int op)
{
    switch (op) {
#define OPCODE_NAME(name, byte)                                                                \
    case OP_##name:                                                                            \
        return #name;
        PICKLE_OPCODES(OPCODE_NAME)
#undef OPCODE_NAME
    default:
        return NULL;
    }
}

/* --- Errors ------------------------------------------------------------------------------- */

int rvmi_pickle_fail(rvmi_pickle *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    m->hooks->fail(m->user, code, fmt, ap);
    va_end(ap);
    return code;
}

__attribute__((format(printf, 3, 4))) static int fail(rvmi_pickle *m, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    m->hooks->fail(m->user, code, fmt, ap);
    va_end(ap);
    return code;
}

/* --- Objects ------------------------------------------------------------------------------ */

#define CHUNK_OBJS 512
struct rvmi_pickle_chunk {
    struct rvmi_pickle_chunk *next;
    size_t used;
    rvmi_pickle_obj objs[CHUNK_OBJS];
};

int rvmi_pickle_new(rvmi_pickle *m, rvmi_pickle_kind kind, rvmi_pickle_obj **out)
{
    if (m->nobjects >= RVMI_PICKLE_MAX_OBJECTS)
        return fail(m, RVM_EFORMAT, "pickle creates more than %u objects",
                    RVMI_PICKLE_MAX_OBJECTS);
    if (!m->chunks || m->chunks->used == CHUNK_OBJS) {
        struct rvmi_pickle_chunk *k = malloc(sizeof(*k));
        if (!k)
            return fail(m, RVM_ENOMEM, "out of memory");
        k->next = m->chunks;
        k->used = 0;
        m->chunks = k;
    }
    rvmi_pickle_obj *o = &m->chunks->objs[m->chunks->used++];
    memset(o, 0, sizeof(*o));
    o->kind = (unsigned char)kind;
    m->nobjects++;
    *out = o;
    return 0;
}

int rvmi_pickle_new_host(rvmi_pickle *m, int type, size_t size, rvmi_pickle_obj **out)
{
    int rc = rvmi_pickle_new(m, RVMI_PK_HOST, out);
    if (rc)
        return rc;
    (*out)->u.host.type = type;
    (*out)->u.host.data = calloc(1, size ? size : 1);
    if (!(*out)->u.host.data) {
        (*out)->kind = RVMI_PK_NONE; /* nothing for rvmi_pickle_finish to free */
        return fail(m, RVM_ENOMEM, "out of memory");
    }
    return 0;
}

const char *rvmi_pickle_type_name(const rvmi_pickle *m, const rvmi_pickle_obj *o)
{
    switch (o->kind) {
    case RVMI_PK_NONE: return "None";
    case RVMI_PK_BOOL: return "bool";
    case RVMI_PK_INT: return "int";
    case RVMI_PK_FLOAT: return "float";
    case RVMI_PK_STR: return "str";
    case RVMI_PK_TUPLE: return "tuple";
    case RVMI_PK_LIST: return "list";
    case RVMI_PK_DICT: return o->flag ? "OrderedDict" : "dict";
    case RVMI_PK_GLOBAL: return m->hooks->global_name(m->user, o->u.global);
    case RVMI_PK_HOST: return m->hooks->host_type_name(m->user, o->u.host.type);
    default: return "?";
    }
}

int rvmi_pickle_is_str(const rvmi_pickle_obj *o, const char *s)
{
    size_t n = strlen(s);
    return o->kind == RVMI_PK_STR && o->u.str.len == n && memcmp(o->u.str.s, s, n) == 0;
}

int rvmi_pickle_is_empty_dict(const rvmi_pickle_obj *o)
{
    return o->kind == RVMI_PK_DICT && o->u.seq.n == 0;
}

/* Appends to a list or dict (a dict appends key then value). */
static int seq_append(rvmi_pickle *m, rvmi_pickle_obj *o, rvmi_pickle_obj *item)
{
    size_t per = o->kind == RVMI_PK_DICT ? 2 : 1;
    if (o->u.seq.n / per >= RVMI_PICKLE_MAX_ITEMS && o->u.seq.n % per == 0)
        return fail(m, RVM_ENOMEM, "pickle %s holds more than %d entries",
                    rvmi_pickle_type_name(m, o), RVMI_PICKLE_MAX_ITEMS);
    if (o->u.seq.n == o->u.seq.cap) {
        size_t cap = o->u.seq.cap ? o->u.seq.cap * 2 : 8;
        rvmi_pickle_obj **items = realloc(o->u.seq.items, cap * sizeof(*items));
        if (!items)
            return fail(m, RVM_ENOMEM, "out of memory");
        o->u.seq.items = items;
        o->u.seq.cap = cap;
    }
    o->u.seq.items[o->u.seq.n++] = item;
    return 0;
}

static int dict_set(rvmi_pickle *m, rvmi_pickle_obj *d, rvmi_pickle_obj *key,
                    rvmi_pickle_obj *value)
{
    /* Only string keys occur in a state_dict and its metadata. Duplicates are the host's
     * business (torch's loader looks once, in the final state_dict), to keep this O(1). */
    if (key->kind != RVMI_PK_STR)
        return fail(m, RVM_EFORMAT, "pickle dict key has type %s, not str",
                    rvmi_pickle_type_name(m, key));
    int rc = seq_append(m, d, key);
    return rc ? rc : seq_append(m, d, value);
}

/* --- The stack and the memo --------------------------------------------------------------- */

/* As in Python's unpickler, MARK starts a new frame: opcodes may not pop below it. */
static size_t frame_base(const rvmi_pickle *m)
{
    return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static int push(rvmi_pickle *m, rvmi_pickle_obj *o)
{
    if (m->sp == m->stack_cap) {
        if (m->stack_cap >= RVMI_PICKLE_MAX_STACK)
            return fail(m, RVM_EFORMAT, "pickle stack deeper than %d", RVMI_PICKLE_MAX_STACK);
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 256;
        rvmi_pickle_obj **s = realloc(m->stack, cap * sizeof(*s));
        if (!s)
            return fail(m, RVM_ENOMEM, "out of memory");
        m->stack = s;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = o;
    return 0;
}

static int push_new(rvmi_pickle *m, rvmi_pickle_kind kind, rvmi_pickle_obj **out)
{
    int rc = rvmi_pickle_new(m, kind, out);
    return rc ? rc : push(m, *out);
}

static int pop(rvmi_pickle *m, int op, rvmi_pickle_obj **out)
{
    if (m->sp <= frame_base(m))
        return fail(m, RVM_EFORMAT, "pickle %s at offset %zu finds the stack empty",
                    opcode_name(op), m->pos - 1);
    *out = m->stack[--m->sp];
    return 0;
}

static int peek(rvmi_pickle *m, int op, rvmi_pickle_obj **out)
{
    if (m->sp <= frame_base(m))
        return fail(m, RVM_EFORMAT, "pickle %s at offset %zu finds the stack empty",
                    opcode_name(op), m->pos - 1);
    *out = m->stack[m->sp - 1];
    return 0;
}

/* Ends the innermost MARK; the items are stack[*from .. sp). */
static int pop_mark(rvmi_pickle *m, int op, size_t *from)
{
    if (!m->nmarks)
        return fail(m, RVM_EFORMAT, "pickle %s at offset %zu without a MARK", opcode_name(op),
                    m->pos - 1);
    *from = m->marks[--m->nmarks];
    return 0;
}

/* A tuple of the n stack items from index first (the stack is not allocated before the
 * first push: an empty tuple touches no pointer into it). */
static int make_tuple(rvmi_pickle *m, size_t first, size_t n, rvmi_pickle_obj **out)
{
    int rc = rvmi_pickle_new(m, RVMI_PK_TUPLE, out);
    if (rc)
        return rc;
    if (n) {
        (*out)->u.seq.items = malloc(n * sizeof(rvmi_pickle_obj *));
        if (!(*out)->u.seq.items)
            return fail(m, RVM_ENOMEM, "out of memory");
        memcpy((*out)->u.seq.items, m->stack + first, n * sizeof(rvmi_pickle_obj *));
    }
    (*out)->u.seq.n = (*out)->u.seq.cap = n;
    return 0;
}

/* BINPUT, LONG_BINPUT and MEMOIZE (messages call them all PUT, the memo's store). */
static int memo_put(rvmi_pickle *m, uint64_t idx)
{
    rvmi_pickle_obj *top = NULL;
    int rc = peek(m, OP_PUT, &top);
    if (rc)
        return rc;
    if (idx >= RVMI_PICKLE_MAX_MEMO)
        return fail(m, RVM_EFORMAT, "pickle memo index %llu is too large (limit %u)",
                    (unsigned long long)idx, RVMI_PICKLE_MAX_MEMO);
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 1024;
        while (cap <= idx)
            cap *= 2;
        rvmi_pickle_obj **memo = realloc(m->memo, cap * sizeof(*memo));
        if (!memo)
            return fail(m, RVM_ENOMEM, "out of memory");
        memset(memo + m->memo_cap, 0, (cap - m->memo_cap) * sizeof(*memo));
        m->memo = memo;
        m->memo_cap = cap;
    }
    if (!m->memo[idx])
        m->memo_count++;
    m->memo[idx] = top;
    return 0;
}

static int memo_get(rvmi_pickle *m, uint64_t idx)
{
    if (idx >= m->memo_cap || !m->memo[idx])
        return fail(m, RVM_EFORMAT, "pickle memo index %llu at offset %zu is out of range",
                    (unsigned long long)idx, m->pos);
    return push(m, m->memo[idx]);
}

/* --- Reading the pickle bytes ------------------------------------------------------------- */

/* The n bytes of op's argument are there. */
static int need(rvmi_pickle *m, uint64_t n, int op)
{
    if (n > m->pkl_len - m->pos)
        return fail(m, RVM_EFORMAT, "pickle ends inside %s at offset %zu", opcode_name(op),
                    m->pos);
    return 0;
}

static uint64_t take_le(rvmi_pickle *m, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)m->pkl[m->pos + i] << (8 * i);
    m->pos += (size_t)n;
    return v;
}

static int push_int(rvmi_pickle *m, int64_t v)
{
    rvmi_pickle_obj *o = NULL;
    int rc = push_new(m, RVMI_PK_INT, &o);
    if (!rc)
        o->u.i = v;
    return rc;
}

static int push_str(rvmi_pickle *m, uint64_t len)
{
    if (len > m->pkl_len - m->pos)
        return fail(m, RVM_EFORMAT, "pickle string of %llu bytes at offset %zu runs past the end",
                    (unsigned long long)len, m->pos);
    rvmi_pickle_obj *o = NULL;
    int rc = rvmi_pickle_new(m, RVMI_PK_STR, &o);
    if (rc)
        return rc;
    o->u.str.s = (const char *)m->pkl + m->pos;
    o->u.str.len = (size_t)len;
    m->pos += (size_t)len;
    return push(m, o);
}

/* Reads one newline-terminated line of a GLOBAL opcode. */
static int take_line(rvmi_pickle *m, const char **s, size_t *len)
{
    size_t avail = m->pkl_len - m->pos;
    if (avail > 256)
        avail = 256;
    const uint8_t *start = m->pkl + m->pos;
    const uint8_t *nl = memchr(start, '\n', avail);
    if (!nl)
        return fail(m, RVM_EFORMAT, "pickle GLOBAL at offset %zu: name unterminated or too long",
                    m->pos - 1);
    *s = (const char *)start;
    *len = (size_t)(nl - start);
    m->pos += *len + 1;
    return 0;
}

/* --- The hooks ---------------------------------------------------------------------------- */

/* GLOBAL and STACK_GLOBAL: only what the host's allow-list names exists. */
static int find_class(rvmi_pickle *m, const char *mod, size_t ml, const char *name, size_t nl)
{
    int g = m->hooks->find_class(m->user, mod, ml, name, nl);
    if (g < 0) {
        char b1[RVMI_EXCERPT_CAP], b2[RVMI_EXCERPT_CAP];
        return fail(m, RVM_EFORMAT, "pickle uses forbidden global %s.%s",
                    rvmi_excerpt(mod, ml, b1, sizeof b1), rvmi_excerpt(name, nl, b2, sizeof b2));
    }
    rvmi_pickle_obj *o = NULL;
    int rc = push_new(m, RVMI_PK_GLOBAL, &o);
    if (!rc)
        o->u.global = g;
    return rc;
}

/* REDUCE: only an allowed global may be called, and the host does the call. */
static int reduce(rvmi_pickle *m)
{
    rvmi_pickle_obj *args = NULL, *fn = NULL, *res = NULL;
    int rc = pop(m, OP_REDUCE, &args);
    if (!rc)
        rc = pop(m, OP_REDUCE, &fn);
    if (rc)
        return rc;
    if (fn->kind != RVMI_PK_GLOBAL)
        return fail(m, RVM_EFORMAT,
                    "pickle REDUCE calls an object of type %s (only allowed globals may be called)",
                    rvmi_pickle_type_name(m, fn));
    if (args->kind != RVMI_PK_TUPLE)
        return fail(m, RVM_EFORMAT, "pickle REDUCE arguments have type %s, not tuple",
                    rvmi_pickle_type_name(m, args));
    rc = m->hooks->reduce(m->user, m, fn->u.global, args, &res);
    return rc ? rc : push(m, res);
}

/* BINPERSID: the host maps the persistent id to its object. */
static int persistent_load(rvmi_pickle *m)
{
    rvmi_pickle_obj *pid = NULL, *o = NULL;
    int rc = pop(m, OP_BINPERSID, &pid);
    if (!rc)
        rc = m->hooks->persistent_load(m->user, m, pid, &o);
    return rc ? rc : push(m, o);
}

/* BUILD: torch sets state_dict._metadata (per-module versions) on its OrderedDict; that is
 * the one attribute allowed, and it is ignored (setting others is how __setstate__ runs). */
static int build(rvmi_pickle *m)
{
    rvmi_pickle_obj *state = NULL, *target = NULL;
    int rc = pop(m, OP_BUILD, &state);
    if (!rc)
        rc = peek(m, OP_BUILD, &target);
    if (rc)
        return rc;
    if (target->kind != RVMI_PK_DICT || !target->flag)
        return fail(m, RVM_EFORMAT, "pickle BUILD on %s (only OrderedDict._metadata is allowed)",
                    rvmi_pickle_type_name(m, target));
    if (state->kind != RVMI_PK_DICT)
        return fail(m, RVM_EFORMAT,
                    "pickle BUILD state has type %s (only {'_metadata': ...} is allowed)",
                    rvmi_pickle_type_name(m, state));
    for (size_t i = 0; i < state->u.seq.n; i += 2)
        if (!rvmi_pickle_is_str(state->u.seq.items[i], "_metadata")) {
            char b[RVMI_EXCERPT_CAP];
            const rvmi_pickle_obj *k = state->u.seq.items[i];
            return fail(m, RVM_EFORMAT,
                        "pickle BUILD sets attribute '%s' (only _metadata is allowed)",
                        rvmi_excerpt(k->u.str.s, k->u.str.len, b, sizeof b));
        }
    return 0;
}

/* --- The machine -------------------------------------------------------------------------- */

void rvmi_pickle_init(rvmi_pickle *m, const rvmi_pickle_hooks *hooks, void *user,
                      const uint8_t *pkl, size_t len)
{
    memset(m, 0, sizeof(*m));
    m->hooks = hooks;
    m->user = user;
    m->pkl = pkl;
    m->pkl_len = len;
}

void rvmi_pickle_finish(rvmi_pickle *m)
{
    while (m->chunks) {
        struct rvmi_pickle_chunk *k = m->chunks;
        for (size_t i = 0; i < k->used; i++) {
            rvmi_pickle_obj *o = &k->objs[i];
            if (o->kind == RVMI_PK_TUPLE || o->kind == RVMI_PK_LIST || o->kind == RVMI_PK_DICT)
                free(o->u.seq.items);
            else if (o->kind == RVMI_PK_HOST)
                free(o->u.host.data);
        }
        m->chunks = k->next;
        free(k);
    }
    free(m->stack);
    free(m->memo);
    m->stack = m->memo = NULL;
    m->sp = m->stack_cap = m->memo_cap = m->memo_count = 0;
}

int rvmi_pickle_run(rvmi_pickle *m, rvmi_pickle_obj **result)
{
    int rc = 0;
    while (!rc) {
        if (m->pos >= m->pkl_len)
            return fail(m, RVM_EFORMAT, "pickle ends without STOP");
        size_t at = m->pos;
        int op = m->pkl[m->pos++];
        rvmi_pickle_obj *o = NULL, *k = NULL, *v = NULL;
        size_t from = 0;
        switch (op) {
        case OP_PROTO: /* torch writes 2; 4 and 5 come from pickle_protocol=4/5 */
            if ((rc = need(m, 1, op)))
                break;
            if (at != 0)
                return fail(m, RVM_EFORMAT, "pickle PROTO at offset %zu is not at the start", at);
            if (m->pkl[m->pos] < 2 || m->pkl[m->pos] > 5)
                return fail(m, RVM_EFORMAT, "pickle protocol %d is not supported",
                            m->pkl[m->pos]);
            m->pos++;
            break;
        case OP_FRAME: { /* only a read-ahead hint, but its length must be sane */
            if ((rc = need(m, 8, op)))
                break;
            uint64_t len = take_le(m, 8);
            if (len > m->pkl_len - m->pos)
                return fail(m, RVM_EFORMAT, "pickle FRAME at offset %zu runs past the end", at);
            break;
        }
        case OP_STOP:
            if (m->nmarks || m->sp != 1)
                return fail(m, RVM_EFORMAT, "pickle STOP leaves %zu objects and %d marks", m->sp,
                            m->nmarks);
            *result = m->stack[0];
            return 0;
        case OP_MARK:
            if (m->nmarks == RVMI_PICKLE_MAX_MARKS)
                return fail(m, RVM_EFORMAT, "pickle nests deeper than %d marks",
                            RVMI_PICKLE_MAX_MARKS);
            m->marks[m->nmarks++] = m->sp;
            break;
        case OP_EMPTY_DICT:
            rc = push_new(m, RVMI_PK_DICT, &o);
            break;
        case OP_EMPTY_LIST:
            rc = push_new(m, RVMI_PK_LIST, &o);
            break;
        case OP_EMPTY_TUPLE:
            rc = push_new(m, RVMI_PK_TUPLE, &o);
            break;
        case OP_NONE:
            rc = push_new(m, RVMI_PK_NONE, &o);
            break;
        case OP_NEWTRUE:
        case OP_NEWFALSE:
            if (!(rc = push_new(m, RVMI_PK_BOOL, &o)))
                o->flag = op == OP_NEWTRUE;
            break;
        case OP_BINUNICODE:
            if (!(rc = need(m, 4, op)))
                rc = push_str(m, take_le(m, 4));
            break;
        case OP_SHORT_BINUNICODE:
            if (!(rc = need(m, 1, op)))
                rc = push_str(m, take_le(m, 1));
            break;
        case OP_BINUNICODE8:
            if (!(rc = need(m, 8, op)))
                rc = push_str(m, take_le(m, 8));
            break;
        case OP_BININT: /* signed 32-bit */
            if (!(rc = need(m, 4, op)))
                rc = push_int(m, (int32_t)(uint32_t)take_le(m, 4));
            break;
        case OP_BININT1:
            if (!(rc = need(m, 1, op)))
                rc = push_int(m, (int64_t)take_le(m, 1));
            break;
        case OP_BININT2:
            if (!(rc = need(m, 2, op)))
                rc = push_int(m, (int64_t)take_le(m, 2));
            break;
        case OP_LONG1: { /* n-byte little-endian two's complement */
            if ((rc = need(m, 1, op)))
                break;
            int n = (int)take_le(m, 1);
            if (n > 8)
                return fail(m, RVM_EFORMAT, "pickle LONG1 of %d bytes at offset %zu is too large",
                            n, at);
            if ((rc = need(m, (uint64_t)n, op)))
                break;
            uint64_t u = take_le(m, n);
            if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1)
                u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            int64_t val;
            memcpy(&val, &u, sizeof val);
            rc = push_int(m, val);
            break;
        }
        case OP_BINFLOAT: { /* big-endian double */
            if ((rc = need(m, 8, op)))
                break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u = (u << 8) | m->pkl[m->pos++];
            if (!(rc = push_new(m, RVMI_PK_FLOAT, &o)))
                memcpy(&o->u.f, &u, sizeof u);
            break;
        }
        case OP_TUPLE:
            if (!(rc = pop_mark(m, op, &from)) &&
                !(rc = make_tuple(m, from, m->sp - from, &o))) {
                m->sp = from;
                rc = push(m, o);
            }
            break;
        case OP_TUPLE1:
        case OP_TUPLE2:
        case OP_TUPLE3: {
            size_t n = (size_t)(op - OP_TUPLE1 + 1);
            if (m->sp - frame_base(m) < n)
                return fail(m, RVM_EFORMAT, "pickle %s at offset %zu finds too few items",
                            opcode_name(op), at);
            if (!(rc = make_tuple(m, m->sp - n, n, &o))) {
                m->sp -= n;
                rc = push(m, o);
            }
            break;
        }
        case OP_BINPUT:
            if (!(rc = need(m, 1, op)))
                rc = memo_put(m, take_le(m, 1));
            break;
        case OP_LONG_BINPUT:
            if (!(rc = need(m, 4, op)))
                rc = memo_put(m, take_le(m, 4));
            break;
        case OP_MEMOIZE: /* the next free index, as Python's len(memo) */
            rc = memo_put(m, m->memo_count);
            break;
        case OP_BINGET:
            if (!(rc = need(m, 1, op)))
                rc = memo_get(m, take_le(m, 1));
            break;
        case OP_LONG_BINGET:
            if (!(rc = need(m, 4, op)))
                rc = memo_get(m, take_le(m, 4));
            break;
        case OP_SETITEM:
            if (!(rc = pop(m, op, &v)) && !(rc = pop(m, op, &k)) && !(rc = peek(m, op, &o))) {
                if (o->kind != RVMI_PK_DICT)
                    return fail(m, RVM_EFORMAT, "pickle SETITEM on %s",
                                rvmi_pickle_type_name(m, o));
                rc = dict_set(m, o, k, v);
            }
            break;
        case OP_SETITEMS:
            if ((rc = pop_mark(m, op, &from)))
                break;
            if (from <= frame_base(m) || m->stack[from - 1]->kind != RVMI_PK_DICT ||
                (m->sp - from) % 2)
                return fail(m, RVM_EFORMAT, "pickle SETITEMS at offset %zu is malformed", at);
            o = m->stack[from - 1];
            for (size_t i = from; i < m->sp && !rc; i += 2)
                rc = dict_set(m, o, m->stack[i], m->stack[i + 1]);
            m->sp = from;
            break;
        case OP_APPEND:
            if (!(rc = pop(m, op, &v)) && !(rc = peek(m, op, &o))) {
                if (o->kind != RVMI_PK_LIST)
                    return fail(m, RVM_EFORMAT, "pickle APPEND on %s", rvmi_pickle_type_name(m, o));
                rc = seq_append(m, o, v);
            }
            break;
        case OP_APPENDS:
            if ((rc = pop_mark(m, op, &from)))
                break;
            if (from <= frame_base(m) || m->stack[from - 1]->kind != RVMI_PK_LIST)
                return fail(m, RVM_EFORMAT, "pickle APPENDS at offset %zu is malformed", at);
            o = m->stack[from - 1];
            for (size_t i = from; i < m->sp && !rc; i++)
                rc = seq_append(m, o, m->stack[i]);
            m->sp = from;
            break;
        case OP_GLOBAL: { /* module\nname\n */
            const char *mod = NULL, *name = NULL;
            size_t ml = 0, nl = 0;
            if (!(rc = take_line(m, &mod, &ml)) && !(rc = take_line(m, &name, &nl)))
                rc = find_class(m, mod, ml, name, nl);
            break;
        }
        case OP_STACK_GLOBAL: /* protocol 4: module and name strings from the stack */
            if (!(rc = pop(m, op, &v)) && !(rc = pop(m, op, &k))) {
                if (k->kind != RVMI_PK_STR || v->kind != RVMI_PK_STR)
                    return fail(m, RVM_EFORMAT, "pickle STACK_GLOBAL at offset %zu needs two str",
                                at);
                rc = find_class(m, k->u.str.s, k->u.str.len, v->u.str.s, v->u.str.len);
            }
            break;
        case OP_REDUCE:
            rc = reduce(m);
            break;
        case OP_BUILD:
            rc = build(m);
            break;
        case OP_BINPERSID:
            rc = persistent_load(m);
            break;
        default: {
            const char *name = opcode_name(op);
            if (name)
                return fail(m, RVM_EFORMAT,
                            "pickle opcode %s (0x%02x) at offset %zu is not allowed", name, op,
                            at);
            return fail(m, RVM_EFORMAT, "unknown pickle opcode 0x%02x at offset %zu", op, at);
        }
        }
    }
    return rc;
}
