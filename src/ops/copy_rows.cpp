#include "copy_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "convlab/ops/kernels.h"

namespace convlab::kernels {

namespace {

__attribute__((target("avx512f"))) void copy_rows_avx512(const float* src, int64_t src_ld,
                                                         float* dst, int64_t dst_ld, int64_t rows,
                                                         int64_t cols) {
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols % 16)) - 1);
  for (int64_t y = 0; y < rows; ++y, src += src_ld, dst += dst_ld) {
    int64_t x = 0;
    for (; x + 16 <= cols; x += 16) _mm512_storeu_ps(dst + x, _mm512_loadu_ps(src + x));
    if (tail) _mm512_mask_storeu_ps(dst + x, tail, _mm512_maskz_loadu_ps(tail, src + x));
  }
}

}  // namespace

void copy_rows(const float* src, int64_t src_ld, float* dst, int64_t dst_ld, int64_t rows,
               int64_t cols) {
  // By the active instruction set, so that the tests that lower it cover the plain copies too.
  if (active_isa() == Isa::avx512) return copy_rows_avx512(src, src_ld, dst, dst_ld, rows, cols);
  for (int64_t y = 0; y < rows; ++y)
    std::memcpy(dst + y * dst_ld, src + y * src_ld, static_cast<size_t>(cols) * sizeof(float));
}

void copy_into_zeroed(const float* src, int64_t planes, int64_t rows, int64_t cols, float* dst,
                      int64_t dst_rows, int64_t dst_cols, int64_t top, int64_t left) {
  std::fill(dst, dst + planes * dst_rows * dst_cols, 0.0f);
  for (int64_t c = 0; c < planes; ++c)
    copy_rows(src + c * rows * cols, cols, dst + (c * dst_rows + top) * dst_cols + left, dst_cols,
              rows, cols);
}

void zero_border(int64_t rows, int64_t cols, int64_t width, float* dst, int64_t dst_rows,
                 int64_t dst_cols, int64_t top, int64_t left) {
  const int64_t row = dst_cols * width;  // floats per row
  std::fill(dst, dst + top * row, 0.0f);
  std::fill(dst + (top + rows) * row, dst + dst_rows * row, 0.0f);
  for (int64_t y = 0; y < rows; ++y) {
    float* d = dst + (y + top) * row;
    std::fill(d, d + left * width, 0.0f);
    std::fill(d + (left + cols) * width, d + row, 0.0f);
  }
}

}  // namespace convlab::kernels
