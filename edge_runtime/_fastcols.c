/* The encoder's optional compiled fast path: columns of a list of dicts read in one C loop.
 *
 * Three functions, each doing exactly what the pure-Python path in edge_runtime/encoder.py does for
 * the common case, and giving up (returning False, output unspecified) on anything else, so that
 * the Python path takes over and names the problem. Equality of the two paths is tested
 * (tests/edge_runtime/test_native.py). No numpy C API: outputs are writable buffers (int32 and
 * float32), so one build serves numpy 1.x and 2.x. lookup_ids and numbers read 256 records at a
 * time (every value of the block first, with memory prefetches, then column by column); lookup_rows
 * reads one column. None assumes anything between two reads: a value's __hash__ or __eq__ may run
 * Python code that changes the records, so each read checks again and holds its own references.
 *
 * lookup_ids(records, columns, caches, missing_ids, out) -> bool
 *     out[j, i] = caches[j][records[i].get(columns[j])] for every field j and record i, and
 *     missing_ids[j] where the value is None or absent. Gives up when a record is not exactly a
 *     dict, a value is not in its cache (or is unhashable), or an id is not an int that fits int32.
 *
 * lookup_rows(records, column, rows, out, width) -> bool
 *     out[i, :] = rows[records[i].get(column)] (a tuple of ``width`` ints: a multi-valued field's
 *     padded ids, cached per raw text). Gives up like lookup_ids.
 *
 * numbers(records, columns, rules, out) -> bool
 *     out[j, i] (float32) = the model input of x = float(records[i].get(columns[j])) by ENCODING.md
 *     section 7.2-7.3, with rules[j] = (log1p, shift, scale, lo, hi, fill, required), the row that
 *     edge_runtime.numeric.TransformTable derives from the spec (so the statistics are read in one
 *     place): y = clip((g(x) - shift) / scale, lo, hi), g = log1p(max(x, 0)) or x; fill for None,
 *     NaN or an absent key. The same operations in the same order as TransformTable.apply, in
 *     binary64, then one rounding to binary32. Gives up on any value that is not exactly an int,
 *     bool or float (texts, numpy scalars, times: the Python path parses or refuses those), on ints
 *     too large for a double, on infinities, on a missing value of a required field and on a
 *     transform that is not a number: the Python path names the field and record.
 *
 * Why this file is over 350 lines: one extension module is one C file here (setup.py builds it
 * alone), and most of its length is the Python C API's reference and error checks on every read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

static int
get_out(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *format, Py_ssize_t rows,
        Py_ssize_t cols)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '=' || f[0] == '<' || f[0] == '@')
        f++;
    if (view->itemsize != itemsize || strcmp(f, format) != 0 || view->len != rows * cols * itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "out must be a C-contiguous '%s' buffer of %zd x %zd items",
                     format, rows, cols);
        return -1;
    }
    return 0;
}

static int
check_args(PyObject *records, PyObject *columns, Py_ssize_t *n, Py_ssize_t *m)
{
    if (!PyList_CheckExact(records) || !PyTuple_CheckExact(columns)) {
        PyErr_SetString(PyExc_TypeError, "records must be a list and columns a tuple");
        return -1;
    }
    *n = PyList_GET_SIZE(records);
    *m = PyTuple_GET_SIZE(columns);
    return 0;
}

/* records[i].get(column) as a new reference (Py_None when absent). *give_up is set (and NULL
 * returned) when records[i] is not exactly a dict or the list has shrunk: a key's __eq__ may run
 * Python code that changes them, so nothing is assumed between two reads. NULL without *give_up:
 * an error is set. */
static PyObject *
field_of(PyObject *records, Py_ssize_t i, PyObject *column, int *give_up)
{
    if (i >= PyList_GET_SIZE(records)) {
        *give_up = 1;
        return NULL;
    }
    PyObject *rec = PyList_GET_ITEM(records, i);
    if (!PyDict_CheckExact(rec)) {
        *give_up = 1;
        return NULL;
    }
    Py_INCREF(rec);
    PyObject *v = PyDict_GetItemWithError(rec, column);
    if (v == NULL && !PyErr_Occurred())
        v = Py_None;
    Py_XINCREF(v);
    Py_DECREF(rec);
    return v;
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((const void *)(p))
#else
#define PREFETCH(p) ((void)0)
#endif

/* Records are read CHUNK at a time, so the values held at once stay bounded (CHUNK x columns
 * references) however many candidates come. */
#define CHUNK 256

/* Drop the references of values[0:count] (and zero them). */
static void
drop(PyObject **values, Py_ssize_t count)
{
    for (Py_ssize_t k = 0; k < count; k++)
        Py_CLEAR(values[k]);
}

/* Every records[start + i].get(columns[j]) for i < len as new references in values[j * len + i],
 * read record by record (Py_None where absent). Right after an invoke the records and their values
 * are out of the CPU's caches, and one lookup after another would wait for memory each time; so
 * the records' dicts and hash tables, then every value, are prefetched before they are used, and
 * the misses overlap (measured: benchmarks/bench_runtime.py). Returns -1 with *give_up set like
 * field_of, or with an error set; nothing is held then. */
static int
gather(PyObject *records, PyObject *columns, Py_ssize_t start, Py_ssize_t len, Py_ssize_t m,
       PyObject **values, int *give_up)
{
    if (start + len > PyList_GET_SIZE(records)) { /* the list shrank: a value's code changed it */
        *give_up = 1;
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++)
        PREFETCH(PyList_GET_ITEM(records, start + i));
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *rec = PyList_GET_ITEM(records, start + i);
        if (PyDict_CheckExact(rec)) {
            const char *keys = (const char *)((PyDictObject *)rec)->ma_keys;
            for (int line = 0; line < 16; line++) /* a small dict's table: about a kilobyte */
                PREFETCH(keys + 64 * line);
        }
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        for (Py_ssize_t j = 0; j < m; j++) {
            PyObject *v = field_of(records, start + i, PyTuple_GET_ITEM(columns, j), give_up);
            if (v == NULL) {
                drop(values, len * m);
                return -1;
            }
            PREFETCH(v);
            values[j * len + i] = v;
        }
    }
    return 0;
}

/* What a function does with one column of one block: fill its outputs for records
 * [start, start + len) from values[0:len]; 1, or 0 to give up (no error set). */
typedef int (*fill_fn)(PyObject **values, Py_ssize_t column, Py_ssize_t start, Py_ssize_t len, void *ctx);

/* Read the records a block at a time (gather) and hand every column of each block to fill.
 * 1: all filled; 0: gave up; -1: an error is set. */
static int
each_block(PyObject *records, PyObject *columns, Py_ssize_t n, Py_ssize_t m, fill_fn fill, void *ctx)
{
    PyObject **values = PyMem_Calloc((size_t)(CHUNK * (m ? m : 1)), sizeof(PyObject *));
    if (values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int give_up = 0, ok = 1;
    for (Py_ssize_t start = 0; start < n && ok > 0; start += CHUNK) {
        Py_ssize_t len = n - start < CHUNK ? n - start : CHUNK;
        if (gather(records, columns, start, len, m, values, &give_up) < 0) {
            ok = give_up ? 0 : -1;
            break;
        }
        /* Column by column: one cache (or rule) stays hot while its values are read. */
        for (Py_ssize_t j = 0; j < m && ok > 0; j++)
            ok = fill(values + j * len, j, start, len, ctx);
        drop(values, len * m);
    }
    PyMem_Free(values);
    return ok;
}

/* A cached id as int32; 0 (error cleared) when it is not an exact int that fits. Runs no Python code. */
static int
as_int32(PyObject *id, int32_t *out)
{
    if (id == NULL || !PyLong_CheckExact(id))
        return 0;
    long x = PyLong_AsLong(id);
    if ((x == -1 && PyErr_Occurred()) || x < INT32_MIN || x > INT32_MAX) {
        PyErr_Clear();
        return 0;
    }
    *out = (int32_t)x;
    return 1;
}

typedef struct {
    PyObject *caches, *missing_ids;
    int32_t *ids;
    Py_ssize_t n;
} ids_ctx;

static int
fill_ids(PyObject **values, Py_ssize_t j, Py_ssize_t start, Py_ssize_t len, void *ctx)
{
    const ids_ctx *c = ctx;
    PyObject *cache = PyTuple_GET_ITEM(c->caches, j);
    int32_t *row = c->ids + j * c->n + start, missing_id;
    as_int32(PyTuple_GET_ITEM(c->missing_ids, j), &missing_id);
    for (Py_ssize_t i = 0; i < len; i++) {
        if (values[i] == Py_None) {
            row[i] = missing_id;
            continue;
        }
        /* values holds its own references: a value's __hash__/__eq__ may change the records */
        if (!as_int32(PyDict_GetItemWithError(cache, values[i]), row + i)) {
            PyErr_Clear(); /* unhashable, or not cached: the Python path resolves it */
            return 0;
        }
    }
    return 1;
}

static PyObject *
lookup_ids(PyObject *self, PyObject *args)
{
    PyObject *records, *columns, *caches, *missing_ids, *out;
    Py_ssize_t n, m;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "OOOOO", &records, &columns, &caches, &missing_ids, &out))
        return NULL;
    if (check_args(records, columns, &n, &m) < 0)
        return NULL;
    if (!PyTuple_CheckExact(caches) || PyTuple_GET_SIZE(caches) != m || !PyTuple_CheckExact(missing_ids) ||
        PyTuple_GET_SIZE(missing_ids) != m) {
        PyErr_SetString(PyExc_TypeError, "caches and missing_ids must be tuples of one item per column");
        return NULL;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        int32_t unused;
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(caches, j)) || !as_int32(PyTuple_GET_ITEM(missing_ids, j), &unused)) {
            PyErr_SetString(PyExc_TypeError, "caches must be dicts and missing_ids int32 ints");
            return NULL;
        }
    }
    if (get_out(out, &view, 4, "i", m, n) < 0)
        return NULL;
    ids_ctx ctx = {caches, missing_ids, (int32_t *)view.buf, n};
    int ok = each_block(records, columns, n, m, fill_ids, &ctx);
    PyBuffer_Release(&view);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

/* One rule row of numbers(): (log1p, shift, scale, lo, hi, fill, required). */
typedef struct {
    int log1p, required;
    double shift, scale, lo, hi, fill;
} rule_t;

static int
read_rules(PyObject *rules, Py_ssize_t m, rule_t *out)
{
    if (!PyTuple_CheckExact(rules) || PyTuple_GET_SIZE(rules) != m) {
        PyErr_SetString(PyExc_TypeError, "rules must be a tuple of one rule per column");
        return -1;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        rule_t *r = out + j;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rules, j), "pdddddp;a rule is (log1p, shift, scale, lo, hi, fill, required)",
                              &r->log1p, &r->shift, &r->scale, &r->lo, &r->hi, &r->fill, &r->required))
            return -1;
    }
    return 0;
}

/* One value's model input by rule r into *out; 0 (no error set) where the Python path must decide. */
static int
transform(PyObject *v, const rule_t *r, float *out)
{
    double d, t;
    if (v == Py_None) {
        d = NAN;
    }
    else if (PyFloat_CheckExact(v)) {
        d = PyFloat_AS_DOUBLE(v);
    }
    else if (PyLong_CheckExact(v) || PyBool_Check(v)) {
        d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear(); /* too large for a double: the Python path names it */
            return 0;
        }
    }
    else {
        return 0; /* texts, numpy scalars, times...: the Python path parses or refuses them */
    }
    if (isinf(d) || (isnan(d) && r->required))
        return 0;
    if (isnan(d)) {
        t = r->fill;
    }
    else {
        if (r->log1p) /* np.maximum(x, 0.0): x when x >= 0 (keeps -0.0), else 0 */
            d = log1p(d >= 0.0 ? d : 0.0);
        t = (d - r->shift) / r->scale;
        if (isnan(t)) /* 0/0 or inf - inf: the Python path decides */
            return 0;
        t = t >= r->lo ? t : r->lo; /* np.clip = minimum(maximum(t, lo), hi) */
        t = t <= r->hi ? t : r->hi;
    }
    *out = (float)t;
    return 1;
}

typedef struct {
    const rule_t *rules;
    float *y;
    Py_ssize_t n;
} numbers_ctx;

static int
fill_numbers(PyObject **values, Py_ssize_t j, Py_ssize_t start, Py_ssize_t len, void *ctx)
{
    const numbers_ctx *c = ctx;
    float *row = c->y + j * c->n + start;
    for (Py_ssize_t i = 0; i < len; i++)
        if (!transform(values[i], c->rules + j, row + i))
            return 0;
    return 1;
}

static PyObject *
numbers(PyObject *self, PyObject *args)
{
    PyObject *records, *columns, *rules, *out;
    Py_ssize_t n, m;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "OOOO", &records, &columns, &rules, &out))
        return NULL;
    if (check_args(records, columns, &n, &m) < 0)
        return NULL;
    rule_t *table = PyMem_Malloc((m ? m : 1) * sizeof(rule_t));
    if (table == NULL)
        return PyErr_NoMemory();
    if (read_rules(rules, m, table) < 0 || get_out(out, &view, 4, "f", m, n) < 0) {
        PyMem_Free(table);
        return NULL;
    }
    numbers_ctx ctx = {table, (float *)view.buf, n};
    int ok = each_block(records, columns, n, m, fill_numbers, &ctx);
    PyBuffer_Release(&view);
    PyMem_Free(table);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

static PyObject *
lookup_rows(PyObject *self, PyObject *args)
{
    PyObject *records, *column, *rows, *out;
    Py_ssize_t n, width;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "OOO!On", &records, &column, &PyDict_Type, &rows, &out, &width))
        return NULL;
    if (!PyList_CheckExact(records) || width < 0) {
        PyErr_SetString(PyExc_TypeError, "records must be a list and width >= 0");
        return NULL;
    }
    n = PyList_GET_SIZE(records);
    if (get_out(out, &view, 4, "i", n, width) < 0)
        return NULL;
    int32_t *ids = (int32_t *)view.buf;
    int ok = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int give_up = 0;
        PyObject *v = field_of(records, i, column, &give_up);
        if (v == NULL) {
            ok = give_up ? 0 : -1;
            break;
        }
        PyObject *row = PyDict_GetItemWithError(rows, v);
        Py_DECREF(v);
        if (row == NULL || !PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_Clear(); /* unhashable, or not cached: the Python path resolves it */
            ok = 0;
            break;
        }
        for (Py_ssize_t k = 0; k < width && ok > 0; k++)
            ok = as_int32(PyTuple_GET_ITEM(row, k), ids + i * width + k);
        if (ok <= 0)
            break;
    }
    PyBuffer_Release(&view);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"lookup_rows", lookup_rows, METH_VARARGS, "Cached padded id rows of one multi-valued column."},
    {"lookup_ids", lookup_ids, METH_VARARGS, "Cached ids of dict records' columns (int32 [m, n])."},
    {"numbers", numbers, METH_VARARGS, "Model inputs of dict records' plain numeric columns (float32 [m, n])."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcols", "The encoder's optional compiled fast path.", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastcols(void)
{
    return PyModule_Create(&module);
}
