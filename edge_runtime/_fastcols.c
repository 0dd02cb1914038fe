/* The encoder's optional compiled fast path: columns of a list of dicts read in one C loop.
 *
 * Two functions, each doing exactly what the pure-Python path in edge_runtime/encoder.py does for
 * the common case, and giving up (returning False, output unspecified) on anything else, so that
 * the Python path takes over and names the problem. Equality of the two paths is tested
 * (tests/edge_runtime/test_native.py). No numpy C API: outputs are writable buffers (int32 and
 * float64), so one build serves numpy 1.x and 2.x. Both read field by field (one column of all
 * records, then the next) and assume nothing between two reads: a value's __hash__ or __eq__ may run
 * Python code that changes the records, so each read checks again and holds its own references.
 *
 * lookup_ids(records, columns, caches, out) -> bool
 *     out[j, i] = caches[j][records[i].get(columns[j])] for every field j and record i. Gives up
 *     when a record is not exactly a dict, a value is not in its cache (or is unhashable), or a
 *     cached id is not an int that fits int32. The caller puts None -> the missing id in each cache.
 *
 * lookup_rows(records, column, rows, out, width) -> bool
 *     out[i, :] = rows[records[i].get(column)] (a tuple of ``width`` ints: a multi-valued field's
 *     padded ids, cached per raw text). Gives up like lookup_ids.
 *
 * numbers(records, columns, out) -> bool
 *     out[j, i] = float(records[i].get(columns[j])), NaN for None or an absent key. Gives up on any
 *     value that is not exactly an int, bool or float (texts, numpy scalars, times: the Python path
 *     parses or refuses those) and on ints too large for a double.
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

static PyObject *
lookup_ids(PyObject *self, PyObject *args)
{
    PyObject *records, *columns, *caches, *out;
    Py_ssize_t n, m;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "OOOO", &records, &columns, &caches, &out))
        return NULL;
    if (check_args(records, columns, &n, &m) < 0)
        return NULL;
    if (!PyTuple_CheckExact(caches) || PyTuple_GET_SIZE(caches) != m) {
        PyErr_SetString(PyExc_TypeError, "caches must be a tuple of one dict per column");
        return NULL;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(caches, j))) {
            PyErr_SetString(PyExc_TypeError, "caches must be a tuple of one dict per column");
            return NULL;
        }
    }
    if (get_out(out, &view, 4, "i", m, n) < 0)
        return NULL;
    int32_t *ids = (int32_t *)view.buf;
    int ok = 1;
    /* Field by field: one cache stays hot in the CPU's cache while the records are read. */
    for (Py_ssize_t j = 0; j < m && ok > 0; j++) {
        PyObject *column = PyTuple_GET_ITEM(columns, j), *cache = PyTuple_GET_ITEM(caches, j);
        int32_t *row = ids + j * n;
        for (Py_ssize_t i = 0; i < n; i++) {
            int give_up = 0;
            PyObject *v = field_of(records, i, column, &give_up);
            if (v == NULL) {
                ok = give_up ? 0 : -1;
                break;
            }
            PyObject *id = PyDict_GetItemWithError(cache, v);
            Py_DECREF(v);
            if (!as_int32(id, row + i)) {
                PyErr_Clear(); /* unhashable, or not cached: the Python path resolves it */
                ok = 0;
                break;
            }
        }
    }
    PyBuffer_Release(&view);
    if (ok < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

static PyObject *
numbers(PyObject *self, PyObject *args)
{
    PyObject *records, *columns, *out;
    Py_ssize_t n, m;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "OOO", &records, &columns, &out))
        return NULL;
    if (check_args(records, columns, &n, &m) < 0)
        return NULL;
    if (get_out(out, &view, 8, "d", m, n) < 0)
        return NULL;
    double *x = (double *)view.buf;
    int ok = 1;
    for (Py_ssize_t j = 0; j < m && ok > 0; j++) {
        PyObject *column = PyTuple_GET_ITEM(columns, j);
        double *row = x + j * n;
        for (Py_ssize_t i = 0; i < n; i++) {
            int give_up = 0;
            PyObject *v = field_of(records, i, column, &give_up);
            if (v == NULL) {
                ok = give_up ? 0 : -1;
                break;
            }
            double d;
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
                    ok = 0;
                }
            }
            else {
                ok = 0; /* texts, numpy scalars, times...: the Python path parses or refuses them */
            }
            Py_DECREF(v);
            if (!ok)
                break;
            row[i] = d;
        }
    }
    PyBuffer_Release(&view);
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
    {"numbers", numbers, METH_VARARGS, "Plain numbers of dict records' columns (float64 [m, n])."},
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
