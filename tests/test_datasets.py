import codecs

import numpy as np
import pytest

from fastbackprop import datasets


def test_gender_is_the_classic_set():
    X, y = datasets.gender()
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(X, [[-2, -1], [25, 6], [17, 4], [-15, -6]])
    np.testing.assert_array_equal(y, [1, 0, 0, 1])
    q = datasets.gender_queries()
    np.testing.assert_array_equal(q["Emily"][0], [-7, -3])
    np.testing.assert_array_equal(q["Frank"][0], [20, 2])
    assert q["Emily"][1] == 1.0 and q["Frank"][1] == 0.0


@pytest.mark.parametrize("name, expected", [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])])
def test_boolean_functions(name, expected):
    X, y = datasets.load(name)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, expected)


def test_xor_bipolar_is_reed_and_marks_xor_for_tanh_units():
    X, y = datasets.load("xor-bipolar")
    np.testing.assert_array_equal(X, [[-1, -1], [-1, 1], [1, -1], [1, 1]])
    assert y.tolist() == [-0.9, 0.9, 0.9, -0.9]  # the literals, to the bit


def test_fresh_arrays_each_call():
    X, _ = datasets.gender()
    X[0, 0] = 99
    assert datasets.gender()[0][0, 0] == -2


def test_unknown_name():
    with pytest.raises(ValueError, match="dataset must be one of"):
        datasets.load("iris")


def test_load_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,y\n-2, -1, 1\n25,6,0\n")
    X, y = datasets.load_csv(path)
    np.testing.assert_array_equal(X, [[-2, -1], [25, 6]])
    np.testing.assert_array_equal(y, [1, 0])
    assert X.flags.c_contiguous and X.dtype == np.float64


@pytest.mark.parametrize(
    "content, message",
    [
        ("0,0,0\n0,1\n", "line 2: expected 3 columns"),
        ("x0,x1,y\n1,abc,1\n", "line 2: 'abc' is not a number"),
        ("a,b,c\n0,0,0\n", "line 1: 'a' is not a number (a header row must name the columns x0, x1 and y)"),
        ("0,0,0\n0,1,1.5\n", "line 2: y must lie in [-1, 1], got 1.5"),
        ("0,0,0\n0,inf,1\n", "line 2: values must be finite"),
        ("0,0,0\n0,-Infinity,1\n", "line 2: values must be finite"),
        ("0,0,0\n0,NaN,1\n", "line 2: values must be finite"),
        ("\n\n", "no data rows"),
        ("0,0,0\n1_000,0,1\n", "line 2: '1_000' is not a number"),  # float() would take these
        ("0,0,0\n\u0661,0,1\n", "line 2: '\u0661' is not a number"),
        ("0,0,0\n\uff11,0,1\n", "line 2: '\uff11' is not a number"),
        ("0,0,0\n0x1,0,1\n", "line 2: '0x1' is not a number"),
        (b"x0,x1,y\r0,0,0\r1,\xe9,1\r", "line 3: not UTF-8 text"),  # lines ended by CR alone
        (b"x0,x1,y\r\n0,0,0\r\n1,\xe9,1\r\n", "line 3: not UTF-8 text"),
        (codecs.BOM_UTF8 + b"0,0,0\n1,1,1\n\xff,0,0\n", "line 3: not UTF-8 text"),  # counted after the mark
        (codecs.BOM_UTF16_BE + "0,0,0\n1,1,1\n".encode("utf-16-be") + b"\xdc\x00", "line 3: not UTF-16 text"),
        ("x0,x1,y\r0,0,0\r1,1,1\n".encode("utf-16")[:-1], "line 3: not UTF-16 text"),  # cut short
        ("x0,x1,y\n0,0,0\n".encode("utf-16") + "\ud800".encode("utf-16-le", "surrogatepass"), "line 3: not UTF-16"),
        ("x0,x1,y\n0,0,0\n".encode("utf-32"), "UTF-32 text; save the file as UTF-8"),
        ("x0,x1,y\n0,0,0\n".encode("utf-32-be"), "line 1:"),  # no byte-order mark: not UTF-8, and said so
    ],
)
def test_load_csv_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError) as exc:
        datasets.load_csv(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_load_csv_takes_numbers_as_written_and_skips_empty_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,y\n+1.5,-.5e1,1.\n,,\n 2E-1 , 0 ,0\n")
    X, y = datasets.load_csv(path)
    assert X.tolist() == [[1.5, -5.0], [0.2, 0.0]] and y.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("path", [0, 1, True, 3.5, None])
def test_load_csv_refuses_what_is_not_a_path(path):
    with pytest.raises(TypeError, match=r"^path must be a str or os\.PathLike"):
        datasets.load_csv(path)  # an int would name a file descriptor: read, then closed


def test_load_csv_checks_y_against_the_activation_given(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,y\n0,0,1\n0,1,-0.5\n")
    _, y = datasets.load_csv(path)  # either activation's range
    assert datasets.load_csv(path, "tanh")[1].tolist() == y.tolist() == [1.0, -0.5]
    with pytest.raises(ValueError, match=r"d\.csv, line 3: y must lie in \[0, 1\] for sigmoid units, got -0\.5"):
        datasets.load_csv(path, "sigmoid")
    with pytest.raises(ValueError, match="activation must be 'sigmoid', 'tanh' or None"):
        datasets.load_csv(path, "relu")
