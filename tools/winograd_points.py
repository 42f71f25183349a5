#!/usr/bin/env python3
"""Winograd F(m, r) transforms from interpolation points, derived exactly, and their float error.

The Toom-Cook construction (Lavin & Gray 2016; the points plus infinity): A^T[i][j] = p_j^i,
G[j][k] = p_j^k / prod_{l != j} (p_j - p_l), the last row and column for infinity; B^T is then the
unique matrix with y = A^T [(G g) . (B^T d)] equal to the correlation y_i = sum_k d_{i+k} g_k,
solved here as a linear system in rationals. Each choice of points is measured as
src/ops/conv2d_winograd_f2x2.cpp uses it (2D, float32, summed over C = 64 channels, weights scaled
1/sqrt(r^2 C)) against sums in double; the kernel file's matrices are the ones printed.

Usage: /usr/bin/python3 tools/winograd_points.py   (needs python3-numpy)
"""
from fractions import Fraction as F

import numpy as np


def solve(rows, rhs):
    """Exact Gauss-Jordan elimination of a consistent system (more equations than unknowns)."""
    a = [r[:] + [b] for r, b in zip(rows, rhs)]
    n, r, pivots = len(rows[0]), 0, []
    for c in range(n):
        p = next((i for i in range(r, len(a)) if a[i][c] != 0), None)
        if p is None:
            continue
        a[r], a[p] = a[p], a[r]
        a[r] = [x / a[r][c] for x in a[r]]
        for i in range(len(a)):
            if i != r and a[i][c] != 0:
                f = a[i][c]
                a[i] = [x - f * y for x, y in zip(a[i], a[r])]
        pivots.append(c)
        r += 1
    assert all(row[-1] == 0 for row in a[r:]), "no transform for these points"
    x = [F(0)] * n
    for i, c in enumerate(pivots):
        x[c] = a[i][-1]
    return x


def transforms(m, r, points):
    a = len(points) + 1
    assert a == m + r - 1, "F(m, r) needs m + r - 2 finite points"
    AT = [[p ** i for p in points] + [F(int(i == m - 1))] for i in range(m)]
    G = []
    for j, p in enumerate(points):
        f = F(1)
        for l, q in enumerate(points):
            if l != j:
                f *= p - q
        G.append([p ** k / f for k in range(r)])
    G.append([F(int(k == r - 1)) for k in range(r)])
    rows, rhs = [], []  # sum_j AT[i][j] G[j][k] BT[j][l] = [l == i + k]
    for i in range(m):
        for k in range(r):
            for l in range(a):
                row = [F(0)] * (a * a)
                for j in range(a):
                    row[j * a + l] = AT[i][j] * G[j][k]
                rows.append(row)
                rhs.append(F(int(l == i + k)))
    x = solve(rows, rhs)
    BT = [[x[j * a + l] for l in range(a)] for j in range(a)]
    return AT, G, BT


def stride2(m, points):
    """F(m, 3) at stride 2, y_i = d_2i g_0 + d_2i+1 g_1 + d_2i+2 g_2, from F(m, 2) (points) on the
    even inputs and taps (g_0, g_2) and plain products on the odd ones (tap g_1): a = 2m + 1
    positions, the even transform's m + 1 first, then the m odd inputs as they are."""
    AT2, G2, BT2 = transforms(m, 2, points)
    a, z, one = 2 * m + 1, F(0), F(1)
    AT = [AT2[i] + [one if l == i else z for l in range(m)] for i in range(m)]
    G = [[G2[j][0], z, G2[j][1]] for j in range(m + 1)] + [[z, one, z] for _ in range(m)]
    BT = [[BT2[j][k // 2] if k % 2 == 0 else z for k in range(a)] for j in range(m + 1)]
    BT += [[one if k == 2 * l + 1 else z for k in range(a)] for l in range(m)]
    return AT, G, BT


def float_error(m, r, points, tiles=2000, channels=64, stride=1):
    AT, G, BT = (np.array([[float(v) for v in row] for row in M], dtype=np.float32)
                 for M in (stride2(m, points) if stride == 2 else transforms(m, r, points)))
    a, rng = stride * (m - 1) + r, np.random.default_rng(0)
    d = rng.standard_normal((tiles, channels, a, a)).astype(np.float32)
    g = (rng.standard_normal((tiles, channels, r, r)) / np.sqrt(r * r * channels)).astype(np.float32)
    U = np.einsum("ij,tcjk,lk->tcil", G, g, G).astype(np.float32)
    V = np.einsum("ij,tcjk,lk->tcil", BT, d, BT).astype(np.float32)
    M = (U * V).sum(1, dtype=np.float32)
    Y = np.einsum("ij,tjk,lk->til", AT, M, AT)
    exact = np.zeros((tiles, m, m))
    for i in range(m):
        for j in range(m):
            exact[:, i, j] = (d[:, :, stride * i:stride * i + r, stride * j:stride * j + r].astype(np.float64) * g).sum((1, 2, 3))
    return float(np.abs(Y - exact).max()), float(np.abs(exact).max())


def cpp(name, M):
    return "%s = {%s}" % (name, ", ".join(
        "{" + ", ".join(str(v) if v.denominator == 1 else "%d.f / %d" % (v.numerator, v.denominator)
                        for v in row) + "}" for row in M))


def main():
    candidates = [(2, 3, [0, 1, -1]),
                  (2, 5, [0, 1, -1, 2, -2]), (2, 5, [0, 1, -1, F(1, 2), F(-1, 2)]),
                  (2, 5, [0, 1, -1, 2, F(-1, 2)]),
                  (4, 3, [0, 1, -1, 2, -2]), (4, 3, [0, 1, -1, 2, F(-1, 2)]),
                  (2, 7, [0, 1, -1, 2, -2, F(1, 2), F(-1, 2)]), (2, 7, [0, 1, -1, 2, -2, F(1, 2), 3])]
    for m, r, points in candidates:
        points = [F(p) for p in points]
        err, size = float_error(m, r, points)
        print("F(%dx%d, %dx%d) at points %s and infinity: largest error %.2e in outputs up to %.1f"
              % (m, m, r, r, ", ".join(str(p) for p in points), err, size))
    # 3x3 at stride 2 (stride2 above; measured as a kernel and not kept: bench/README.md, session 14)
    for points in ([0, 1, -1, 2], [0, 1, -1, -2], [0, 1, -1, F(1, 2)], [0, 1, -1, F(-1, 2)]):
        points = [F(p) for p in points]
        err, size = float_error(4, 3, points, stride=2)
        print("F(4x4, 3x3) at stride 2 from F(4, 2) at points %s and infinity: largest error %.2e "
              "in outputs up to %.1f" % (", ".join(str(p) for p in points), err, size))
    for m, r, points, note in (
            (2, 3, [0, 1, -1], "no longer in the kernels: F(4x4, 3x3) replaced it; they had Lavin & "
             "Gray's signs: row 0 of G and B^T, row 3 of B^T and column 3 of A^T negated"),
            (2, 5, [0, 1, -1, 2, F(-1, 2)], "as src/ops/winograd_transform.h has it"),
            (2, 7, [0, 1, -1, 2, -2, F(1, 2), F(-1, 2)], "as src/ops/winograd_transform.h has it")):
        print("\nF(2x2, %dx%d) (%s):" % (r, r, note))
        for name, M in zip(("AT", "G", "BT"), transforms(m, r, [F(p) for p in points])):
            print("  " + cpp(name, M))

if __name__ == "__main__":
    main()
